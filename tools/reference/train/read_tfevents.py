#!/usr/bin/env python3
"""Independent reader for TensorBoard event files (pure Python, no tensorboard/protobuf).

    /usr/bin/python3 tools/reference/train/read_tfevents.py FILE

Parses the TFRecord framing (u64 length, masked CRC-32C of the length, payload, masked CRC-32C of
the payload), verifies both CRCs, decodes each payload as a tensorflow.Event with a generic
protobuf wire-format walker, and prints JSON:

    {"events": [{"wall_time": float, "step": int, "file_version": str|null,
                 "values": [{"tag": str, "simple_value": float}, ...]}, ...]}

Exits non-zero with a message on any framing, CRC or wire-format error, or on unknown fields.
Used by tests/train/tensorboard_writer_test.cpp to check the C++ writer.
"""

import json
import struct
import sys


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field_number, wire_type, value) for one message; value is int/bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if pos > len(buf):
            raise ValueError("field %d runs past the end of its message" % number)
        yield number, wire, value


def parse_value(buf):
    out = {"tag": None, "simple_value": None}
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            out["tag"] = value.decode("utf-8")
        elif number == 2 and wire == 5:
            out["simple_value"] = struct.unpack("<f", value)[0]
        else:
            raise ValueError("unexpected Summary.Value field %d/%d" % (number, wire))
    return out


def parse_event(buf):
    event = {"wall_time": 0.0, "step": 0, "file_version": None, "values": []}
    for number, wire, value in fields(buf):
        if number == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            event["step"] = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode("utf-8")
        elif number == 5 and wire == 2:
            for n2, w2, v2 in fields(value):
                if n2 != 1 or w2 != 2:
                    raise ValueError("unexpected Summary field %d/%d" % (n2, w2))
                event["values"].append(parse_value(v2))
        else:
            raise ValueError("unexpected Event field %d/%d" % (number, wire))
    return event


def read_records(data):
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated record header at byte %d" % pos)
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != length_crc:
            raise ValueError("bad length CRC at byte %d" % pos)
        start = pos + 12
        end = start + length
        if end + 4 > len(data):
            raise ValueError("truncated record at byte %d" % pos)
        payload = data[start:end]
        (data_crc,) = struct.unpack("<I", data[end:end + 4])
        if masked(payload) != data_crc:
            raise ValueError("bad data CRC at byte %d" % pos)
        yield payload
        pos = end + 4


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: read_tfevents.py EVENT_FILE")
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    try:
        events = [parse_event(p) for p in read_records(data)]
    except ValueError as e:
        sys.exit("read_tfevents.py: %s: %s" % (sys.argv[1], e))
    json.dump({"events": events}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
