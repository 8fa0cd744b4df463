"""Hugging Face's safetensors format, written and read with numpy only.

Debian's python3 has no `safetensors` package and torch 1.13 cannot save the format, so the
fixture generators write it by hand. This is an implementation independent of the C++ one in
src/io/ (it was written from the format's description, not from that code), so a fixture read
back by the C++ reader also tests the reader against a second writer.

Format: u64 little-endian N, N bytes of JSON header, then the data. The header maps each name
to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data start) plus an
optional "__metadata__" {str: str}. The header is padded with spaces so the data starts at a
multiple of 8.

Layout choice here (deliberately not the C++ writer's "by size, then by name"): tensors are
stored in insertion order, stably re-ordered by decreasing element size so that every tensor is
aligned to its element size. Header keys are written in insertion order too.
"""
import json
import os
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# numpy has no bfloat16: BF16 tensors travel as uint16 bit patterns (see bf16_bits).
_BF16_ITEMSIZE = 2


def bf16_bits(values):
    """Rounds float32 values to bfloat16 (round to nearest, ties to even) and returns the uint16
    bit patterns; NaNs stay NaN."""
    u = np.array(values, dtype=np.float32, order="C").view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _dtype_name(array):
    for name, dt in _DTYPES.items():
        if array.dtype == dt or (array.dtype.kind == dt.kind and array.dtype.itemsize == dt.itemsize):
            return name
    raise ValueError(f"unsupported dtype {array.dtype}")


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array, or name -> ("BF16", uint16 bit array). Atomic: writes
    path + ".tmp" and renames it over path."""
    entries = []
    for index, (name, value) in enumerate(tensors.items()):
        if isinstance(value, tuple):
            dtype, array = value
            if dtype != "BF16":
                raise ValueError(f"{name}: only BF16 is passed as (dtype, bits)")
            array = np.array(array, dtype="<u2", order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
            itemsize = _BF16_ITEMSIZE
        else:
            array = np.array(value, order="C")
            dtype = _dtype_name(array)
            array = array.astype(_DTYPES[dtype], copy=False)
            itemsize = array.dtype.itemsize
        entries.append((-itemsize, index, name, dtype, array))
    entries.sort(key=lambda e: (e[0], e[1]))

    header = {}
    offset = 0
    for _, _, name, dtype, array in sorted(entries, key=lambda e: e[1]):
        header[name] = None  # insertion order of keys; offsets filled below
    for _, _, name, dtype, array in entries:
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)

    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, _, array in entries:
            f.write(array.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path):
    """Returns (tensors, metadata): name -> numpy array (BF16 converted to float32)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = data[begin:end]
        if e["dtype"] == "BF16":
            array = bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            array = np.frombuffer(raw, dtype=_DTYPES[e["dtype"]])
        out[name] = array.reshape(e["shape"]).copy()
    return out, metadata
