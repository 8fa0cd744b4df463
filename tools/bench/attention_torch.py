#!/usr/bin/python3
"""PyTorch baseline for tools/bench/kernel_bench: causal GQA attention at tiny_llama's shape as
plain matmul + masked softmax + matmul (torch 1.13 has no scaled_dot_product_attention), forward
and autograd backward, plus torch.matmul GFLOP/s at the fc1 shape. Usage:
  /usr/bin/python3 tools/bench/attention_torch.py [threads] [batch] [seq]"""
import math
import sys
import time

import torch


def best(fn, reps=5):
    fn()
    t = 1e30
    for _ in range(reps):
        s = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - s)
    return t


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    b = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    s = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    torch.set_num_threads(threads)
    h, g, d = 8, 4, 64
    q = torch.randn(b, h, s, d, requires_grad=True)
    k = torch.randn(b, g, s, d, requires_grad=True)
    v = torch.randn(b, g, s, d, requires_grad=True)
    mask = torch.full((s, s), float("-inf")).triu(1)

    def forward():
        kk = k.repeat_interleave(h // g, dim=1)
        vv = v.repeat_interleave(h // g, dim=1)
        p = torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(d) + mask, -1)
        return p @ vv

    dout = torch.randn(b, h, s, d)
    with torch.no_grad():
        tf = best(forward)
    out = [None]

    def fwd_bwd():
        out[0] = forward()
        out[0].backward(dout)

    tfb = best(fwd_bwd)
    flops = 2.0 * b * h * s * s * d
    print(f"torch {torch.__version__}, threads {threads}")
    print(f"attention b={b} s={s} heads={h} groups={g} d={d} (matmul-softmax, causal by mask)")
    print(f"  forward  {tf * 1e3:8.2f} ms  {flops / tf * 1e-9:6.1f} GFLOP/s (causal-useful flops)")
    print(f"  backward {(tfb - tf) * 1e3:8.2f} ms  (fwd+bwd {tfb * 1e3:.2f} ms)")
    x = torch.randn(b * s, 512)
    w = torch.randn(2816, 512)
    tm = best(lambda: x @ w.T)
    print(f"torch.matmul fc1 fwd {b * s}x2816x512: {2 * b * s * 2816 * 512 / tm * 1e-9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
