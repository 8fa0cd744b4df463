#!/usr/bin/python3
"""Reference outputs of numpy's legacy RandomState for tests/data/numpy_random_test.cpp.

usage: numpy_random_fixture.py OUT.json
For several seeds: the first 8 raw 32-bit words, shuffles of arange(n) (int32 and uint32) for
several n, a shuffle after other draws, and bounded draws above 2^32 (the 64-bit masked path,
through RandomState.randint with an int64 range, which uses the same bounded generator).
"""
import json
import sys

import numpy as np

out = {"cases": []}
for seed in [0, 1, 42, 1234, 31337, 2**31 - 1, 2**32 - 1]:
    case = {"seed": seed}
    rs = np.random.RandomState(seed)
    case["uint32"] = [int(x) for x in rs.randint(0, 2**32, size=8, dtype=np.uint64)]
    shuffles = {}
    for n in [1, 2, 3, 10, 97, 1000, 65537]:
        rs = np.random.RandomState(seed)
        a = np.arange(n, dtype=np.int32)
        rs.shuffle(a)
        shuffles[str(n)] = [int(x) for x in a[:200]] + [int(a.sum()), int((a * np.arange(n)).sum() % 1000003)]
    case["shuffle"] = shuffles
    rs = np.random.RandomState(seed)
    a = np.arange(500, dtype=np.uint32)
    rs.shuffle(a)
    b = np.arange(300, dtype=np.int64)
    rs.shuffle(b)
    case["two_shuffles"] = [int(x) for x in a] + [int(x) for x in b]
    rs = np.random.RandomState(seed)
    case["big_interval"] = [int(x) for x in rs.randint(0, 2**40 + 1, size=6, dtype=np.int64)]
    out["cases"].append(case)
# Generator (PCG64) as Megatron's mock dataset uses it.
out["pcg64"] = []
for seed, low, high in [(0, 1, 4096), (1, 0, 7), (12345, -5, 1000000), (2**32 - 1, 1, 4096)]:
    values = np.random.default_rng(seed=seed).integers(low=low, high=high, size=100000, dtype=np.int32)
    out["pcg64"].append({"seed": seed, "low": low, "high": high, "first": [int(x) for x in values[:64]],
                         "sum": int(values.astype(np.int64).sum()), "last": int(values[-1])})
out["pcg64_raw"] = [int(x) for x in np.random.default_rng(seed=0).bit_generator.random_raw(4)]
json.dump(out, open(sys.argv[1], "w"))
