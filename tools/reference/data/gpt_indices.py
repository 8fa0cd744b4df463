#!/usr/bin/python3
"""Independent numpy reference for Megatron's GPT dataset indices (megatron-formats.md §2).

Reads a .idx file, computes the split range, the document / sample / shuffle indices and the
description (json.dumps + md5) for one split, and saves them with numpy.save under Megatron's
cache names, so tests can compare the C++ cache files byte for byte.

usage: gpt_indices.py IDX_PREFIX OUT_DIR --split 969,30,1 --which train --seq 128
                      --num-samples N --seed 1234 [--tokenizer-json '{...}']
"""
import argparse
import hashlib
import json
import os
import re
import struct
from collections import OrderedDict

import numpy as np


def read_lengths(prefix):
    with open(prefix + ".idx", "rb") as f:
        head = f.read(34)
        assert head[:9] == b"MMIDIDX\x00\x00"
        count = struct.unpack("<Q", head[18:26])[0]
        return np.frombuffer(f.read(4 * count), dtype=np.int32)


def split_matrix(split):
    parts = [float(x) for x in re.findall(r"[.0-9]+", split)]
    parts += [0.0] * (3 - len(parts))
    arr = np.array(parts, dtype=np.float64)
    parts = (arr / np.sum(arr)).tolist()
    bounds = [0]
    for p in parts:
        bounds.append(bounds[-1] + p)
    out = []
    for i in range(3):
        out.append(None if bounds[i + 1] <= bounds[i] else (bounds[i], bounds[i + 1]))
    return out


def doc_index(docs, epochs, rs, separate):
    if separate and epochs > 1:
        return np.concatenate([doc_index(docs, epochs - 1, rs, False), doc_index(docs, 1, rs, False)])
    out = np.tile(np.asarray(docs, dtype=np.int32), epochs)
    rs.shuffle(out)
    return out


def sample_index(lengths, didx, seq, total_tokens):
    # Sample k covers tokens [k*seq, (k+1)*seq] of the concatenated, shuffled document stream
    # (seq + 1 tokens, the last one shared with sample k+1). Entry k is the location of token
    # k*seq: the document holding it (empty documents hold nothing) and the offset inside it.
    n = (total_tokens - 1) // seq
    doc_lens = lengths[didx].astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(doc_lens)[:-1]])
    tok = np.arange(n + 1, dtype=np.int64) * seq
    pos = np.searchsorted(starts, tok, side="right") - 1
    out = np.stack([pos, tok - starts[pos]], axis=1)
    out[0] = (0, 0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("out")
    ap.add_argument("--split", default="969,30,1")
    ap.add_argument("--which", default="train", choices=["train", "valid", "test"])
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--num-samples", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tokenizer-json", default='{"class": "NullTokenizer"}')
    ap.add_argument("--cache-path", default=None, help="written into nothing; kept for symmetry")
    a = ap.parse_args()

    lengths = read_lengths(a.prefix)
    which = ["train", "valid", "test"].index(a.which)
    matrix = split_matrix(a.split)
    beg = int(round(matrix[which][0] * float(len(lengths))))
    end = int(round(matrix[which][1] * float(len(lengths))))
    docs = np.arange(beg, end, dtype=np.int32)

    ids = OrderedDict()
    ids["class"] = "GPTDataset"
    ids["dataset_path"] = a.prefix
    ids["num_samples"] = a.num_samples
    ids["index_split"] = a.which
    ids["random_seed"] = a.seed
    ids["sequence_length"] = a.seq
    ids["split"] = a.split
    ids["split_matrix"] = matrix
    ids["tokenizer"] = json.loads(a.tokenizer_json, object_pairs_hook=OrderedDict)
    desc = json.dumps(ids, indent=4)
    md5 = hashlib.md5(desc.encode("utf-8")).hexdigest()

    T = int(np.sum(lengths[docs]))
    epochs = 1
    while epochs * T < a.num_samples * a.seq + 1:
        epochs += 1
    separate = False
    if epochs > 1:
        n_sans = ((epochs - 1) * T - 1) // a.seq
        n_last = a.num_samples - n_sans
        n_per_epoch = (T - 1) // a.seq
        separate = n_last < int(0.80 * n_per_epoch)
    rs = np.random.RandomState(a.seed)
    didx = doc_index(docs, epochs, rs, separate)
    sidx = sample_index(lengths, didx, a.seq, epochs * T)
    n = sidx.shape[0] - 1
    dtype = np.uint32 if n < np.iinfo(np.uint32).max - 1 else np.int64
    if separate:
        first = np.arange(n_sans, dtype=dtype)
        rs.shuffle(first)
        last = np.arange(n_sans, n, dtype=dtype)
        rs.shuffle(last)
        shuf = np.concatenate([first, last])
    else:
        shuf = np.arange(n, dtype=dtype)
        rs.shuffle(shuf)

    base = os.path.join(a.out, f"{md5}-GPTDataset-{a.which}-")
    os.makedirs(a.out, exist_ok=True)
    with open(base + "description.txt", "wt") as f:
        f.write(desc)
    np.save(base + "document_index.npy", didx)
    np.save(base + "sample_index.npy", sidx.astype(np.int32))
    np.save(base + "shuffle_index.npy", shuf)
    print(md5, epochs, int(separate), n)


if __name__ == "__main__":
    main()
