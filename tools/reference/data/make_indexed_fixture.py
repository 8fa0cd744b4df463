#!/usr/bin/python3
"""Writes Megatron indexed datasets (.bin/.idx) with numpy only, independently of the C++ writer,
as fixtures for tests/data: documents with random lengths and tokens, one per dtype.

usage: make_indexed_fixture.py OUT_DIR
Writes OUT_DIR/docs_{dtype}.{bin,idx} (200 documents) and OUT_DIR/multi_seq.{bin,idx}
(documents made of several sequences).
"""
import os
import struct
import sys

import numpy as np

CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5,
         np.float64: 6, np.float32: 7, np.uint16: 8}


def write(prefix, sequences, doc_bounds, dtype):
    dtype = np.dtype(dtype)
    with open(prefix + ".bin", "wb") as f:
        for s in sequences:
            f.write(np.asarray(s, dtype=dtype).tobytes(order="C"))
    lengths = np.array([len(s) for s in sequences], dtype=np.int32)
    pointers = np.zeros(len(sequences), dtype=np.int64)
    if len(sequences) > 1:
        pointers[1:] = np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize)
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", CODES[dtype.type]))
        f.write(struct.pack("<Q", len(sequences)))
        f.write(struct.pack("<Q", len(doc_bounds)))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(np.array(doc_bounds, dtype=np.int64).tobytes())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(7)
    for dtype in CODES:
        lo, hi = (0, 120) if np.dtype(dtype).itemsize == 1 else (0, 30000)
        seqs = [rng.randint(lo, hi, size=rng.randint(1, 60)) for _ in range(200)]
        write(os.path.join(out, "docs_" + np.dtype(dtype).name), seqs, list(range(201)), dtype)
    seqs = [rng.randint(0, 1000, size=rng.randint(1, 20)) for _ in range(30)]
    bounds = [0, 3, 4, 10, 10, 18, 30]
    write(os.path.join(out, "multi_seq"), seqs, bounds, np.int32)
    # A dataset sized like a small real corpus, for the GPT index comparisons.
    seqs = [rng.randint(0, 32000, size=int(rng.exponential(200)) + 1) for _ in range(1000)]
    write(os.path.join(out, "corpus"), seqs, list(range(1001)), np.uint16)


if __name__ == "__main__":
    main()
