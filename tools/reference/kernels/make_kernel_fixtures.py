#!/usr/bin/python3
"""Writes the PyTorch reference fixtures for tests/kernels (run with /usr/bin/python3, which has
torch 1.13). Each kernel gets tests/fixtures/kernels/<name>.bin holding named tensors; the
references are plain PyTorch (autograd for backward), computed in float64 where the kernel
computes in fp32 so that the fixtures measure our error, not PyTorch's.

File format (little-endian): b"PRIMFIX1", u32 count, then per tensor:
  u32 name_len, name (utf-8), u8 dtype (0 = f32, 1 = i32), u32 ndim, i64 dims[ndim], data.
"""
import math
import os
import struct
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "fixtures",
                   "kernels")


def write(name, tensors):
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(b"PRIMFIX1")
        f.write(struct.pack("<I", len(tensors)))
        for key, t in tensors.items():
            a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            if a.dtype.kind in "iu":
                a, code = a.astype("<i4"), 1
            else:
                a, code = a.astype("<f4"), 0
            kb = key.encode()
            f.write(struct.pack("<I", len(kb)))
            f.write(kb)
            f.write(struct.pack("<BI", code, a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(np.ascontiguousarray(a).tobytes())
    print(f"{path}: {os.path.getsize(path)} bytes")


def randn(*shape, scale=1.0):
    return torch.randn(*shape, dtype=torch.float64) * scale


def rounded(t):
    """Round to fp32 so the reference starts from exactly the inputs the kernel gets."""
    return t.float().double()


def leaf(t):
    return rounded(t).requires_grad_(True)


def gemm():
    a, b = rounded(randn(37, 53)), rounded(randn(29, 53))
    write("gemm_f32", {"a": a, "b": b, "c": a @ b.T})
    ab = a.to(torch.bfloat16).double()
    bb = b.to(torch.bfloat16).double()
    write("gemm_bf16", {"a": a, "b": b, "c": ab @ bb.T})


def embedding():
    ids = torch.randint(0, 50, (40,))
    table = leaf(randn(50, 24))
    out = table[ids]
    dout = rounded(randn(40, 24))
    out.backward(dout)
    write("embedding", {"ids": ids.int(), "table": table, "out": out, "dout": dout,
                        "dtable": table.grad})


def rmsnorm():
    x, w = leaf(randn(33, 80, scale=2.0)), leaf(1.0 + randn(80, scale=0.1))
    eps = 1e-5
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
    dy = rounded(randn(33, 80))
    y.backward(dy)
    write("rmsnorm", {"x": x, "w": w, "y": y, "dy": dy, "dx": x.grad, "dw": w.grad})


def layernorm():
    x = leaf(randn(33, 80, scale=2.0) + 3.0)
    w, b = leaf(1.0 + randn(80, scale=0.1)), leaf(randn(80, scale=0.1))
    y = torch.nn.functional.layer_norm(x, (80,), w, b, eps=1e-5)
    dy = rounded(randn(33, 80))
    y.backward(dy)
    write("layernorm", {"x": x, "w": w, "b": b, "y": y, "dy": dy, "dx": x.grad, "dw": w.grad,
                        "db": b.grad})


def rope_inv_freq(rot, base, llama3, factor=8.0, low=1.0, high=4.0, orig=8192.0):
    inv = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.float32) / rot))
    if llama3:
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > orig / low, inv / factor, inv)
        smooth = (orig / wavelen - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= orig / high) & (wavelen <= orig / low)
        inv = torch.where(medium, blended, scaled)
    return inv.double()


def rope_case(name, b, s, h, d, percent, base, llama3):
    rot = int(d * percent)
    inv = rope_inv_freq(rot, base, llama3)
    freqs = torch.outer(torch.arange(s, dtype=torch.float64), inv)  # [s, rot/2]
    emb = torch.cat([freqs, freqs], -1)[None, :, None, :]  # [1, s, 1, rot]
    x = leaf(randn(b, s, h, d))
    xr, xp = x[..., :rot], x[..., rot:]
    x1, x2 = xr[..., : rot // 2], xr[..., rot // 2:]
    rotated = torch.cat([-x2, x1], -1)
    y = torch.cat([xr * emb.cos() + rotated * emb.sin(), xp], -1)
    dy = rounded(randn(b, s, h, d))
    y.backward(dy)
    write(name, {"x": x, "y": y, "dy": dy, "dx": x.grad, "inv_freq": inv})


def attention_case(name, b, s, h, g, d, dv=None, scale=None):
    dv = dv or d
    scale = scale or 1.0 / math.sqrt(d)
    q, k, v = leaf(randn(b, s, h, d)), leaf(randn(b, s, g, d)), leaf(randn(b, s, g, dv))
    kk = k.repeat_interleave(h // g, dim=2)
    vv = v.repeat_interleave(h // g, dim=2)
    scores = torch.einsum("bihd,bjhd->bhij", q, kk) * scale
    mask = torch.ones(s, s, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(mask, float("-inf"))
    lse = torch.logsumexp(scores, -1)  # [b, h, s]
    out = torch.einsum("bhij,bjhd->bihd", torch.softmax(scores, -1), vv)
    dout = rounded(randn(b, s, h, dv))
    out.backward(dout)
    write(name, {"q": q, "k": k, "v": v, "out": out, "lse": lse, "dout": dout, "dq": q.grad,
                 "dk": k.grad, "dv": v.grad})


def swiglu():
    x = leaf(randn(7, 2 * 40, scale=2.0))
    gate, up = torch.chunk(x, 2, dim=-1)
    y = torch.nn.functional.silu(gate) * up
    dy = rounded(randn(7, 40))
    y.backward(dy)
    write("swiglu", {"x": x, "y": y, "dy": dy, "dx": x.grad})


def gelu():
    tensors = {}
    for kind in ("none", "tanh"):
        x = leaf(randn(1000, scale=3.0))
        y = torch.nn.functional.gelu(x, approximate=kind)
        dy = rounded(randn(1000))
        y.backward(dy)
        tensors.update({f"{kind}_x": x, f"{kind}_y": y, f"{kind}_dy": dy, f"{kind}_dx": x.grad})
    write("gelu", tensors)


def bias():
    y0, bvec = rounded(randn(13, 70)), leaf(randn(70))
    y = y0 + bvec
    dy = rounded(randn(13, 70))
    y.backward(dy)
    write("bias", {"y0": y0, "b": bvec, "y": y, "dy": dy, "db": bvec.grad})


def cross_entropy():
    tokens, vocab, padded = 20, 100, 128
    logits = randn(tokens, padded, scale=3.0)
    logits[:, vocab:] = 50.0  # padding must take no probability whatever its value
    logits = leaf(logits)
    targets = torch.randint(0, vocab, (tokens,))
    mask = (torch.rand(tokens) > 0.25).double()
    losses = torch.nn.functional.cross_entropy(logits[:, :vocab], targets, reduction="none")
    lse = torch.logsumexp(logits[:, :vocab], -1)
    total = (losses * mask).sum() / mask.sum()
    total.backward()
    write("cross_entropy", {"logits": logits, "targets": targets.int(), "mask": mask,
                            "losses": losses, "lse": lse, "dlogits": logits.grad})


def adamw():
    n, steps = 1000, 5
    p0 = rounded(randn(n))
    grads = rounded(randn(steps, n))
    out = {"p0": p0.float(), "grads": grads}
    for tag, wd in (("decay", 0.1), ("nodecay", 0.0)):
        p = p0.float().clone().requires_grad_(True)
        opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=wd)
        for t in range(steps):
            p.grad = grads[t].float().clone()
            opt.step()
        st = opt.state[p]
        out.update({f"{tag}_p": p, f"{tag}_m": st["exp_avg"], f"{tag}_v": st["exp_avg_sq"]})
    write("adamw", out)


def sgd():
    n, steps = 300, 3
    p0 = rounded(randn(n))
    grads = rounded(randn(steps, n))
    out = {"p0": p0.float(), "grads": grads}
    for tag, nesterov in (("plain", False), ("nesterov", True)):
        p = p0.float().clone().requires_grad_(True)
        opt = torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=nesterov)
        for t in range(steps):
            p.grad = grads[t].float().clone()
            opt.step()
        out[f"{tag}_p"] = p
        out[f"{tag}_buf"] = opt.state[p]["momentum_buffer"]
    write("sgd", out)


def grad_norm():
    a, b = rounded(randn(20_003, scale=0.02)), rounded(randn(77, scale=0.01))
    norm = torch.sqrt((a * a).sum() + (b * b).sum())
    pa, pb = torch.zeros_like(a, requires_grad=True), torch.zeros_like(b, requires_grad=True)
    pa.grad, pb.grad = a.clone(), b.clone()
    torch.nn.utils.clip_grad_norm_([pa, pb], max_norm=1.0)  # norm ~2.8 > 1: clipped
    ta, tb = pa.grad, pb.grad
    write("grad_norm", {"a": a, "b": b, "norm": norm.reshape(1), "a_clipped": ta,
                        "b_clipped": tb})


def router_case(name, tokens, experts, k, score, pre, sf):
    logits = leaf(randn(tokens, experts))
    if score == "softmax" and pre:
        s = torch.softmax(logits, -1)
        probs, idx = torch.topk(s, k, dim=-1)
    elif score == "softmax":
        top, idx = torch.topk(logits, k, dim=-1)
        probs = torch.softmax(top, -1)
    else:
        s = torch.sigmoid(logits)
        probs, idx = torch.topk(s, k, dim=-1)
        if k > 1:
            probs = probs / (probs.sum(-1, keepdim=True) + 1e-20)
    probs = probs * sf
    dprobs = rounded(randn(tokens, k))
    probs.backward(dprobs)
    write(name, {"logits": logits, "probs": probs, "indices": idx.int(), "dprobs": dprobs,
                 "dlogits": logits.grad})


def moe():
    tokens, experts, k, hidden = 20, 6, 2, 24
    logits = randn(tokens, experts)
    idx = torch.topk(logits, k, dim=-1).indices  # distinct experts per token
    flat = idx.reshape(-1)
    # Megatron order: grouped by expert, ascending token within an expert.
    order = sorted(range(tokens * k), key=lambda i: (int(flat[i]), i // k))
    token_of = torch.tensor([i // k for i in order])
    row_of = torch.empty(tokens * k, dtype=torch.long)
    row_of[torch.tensor(order)] = torch.arange(tokens * k)
    x = leaf(randn(tokens, hidden))
    permuted = x[token_of]
    dperm = rounded(randn(tokens * k, hidden))
    permuted.backward(dperm)
    eo, probs = leaf(randn(tokens * k, hidden)), leaf(torch.rand(tokens, k, dtype=torch.float64))
    y = (probs.unsqueeze(-1) * eo[row_of.view(tokens, k)]).sum(1)
    dy = rounded(randn(tokens, hidden))
    y.backward(dy)
    lg = leaf(logits)
    coeff = 0.01
    counts = torch.bincount(flat, minlength=experts).double()
    aux = (torch.softmax(lg, -1).sum(0) * counts).sum() * experts * coeff / (k * tokens * tokens)
    aux.backward()
    write("moe", {"indices": idx.int(), "row_of": row_of.int(), "token_of": token_of.int(),
                  "counts": counts.int(), "x": x, "permuted": permuted, "dperm": dperm,
                  "dx": x.grad, "expert_out": eo, "probs": probs, "y": y, "dy": dy,
                  "dexpert_out": eo.grad, "dprobs": probs.grad, "logits": lg,
                  "aux_loss": aux.reshape(1), "aux_dlogits": lg.grad})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    gemm()
    embedding()
    rmsnorm()
    layernorm()
    rope_case("rope_full", 2, 19, 3, 32, 1.0, 10000.0, False)
    rope_case("rope_llama3_partial", 1, 19, 3, 64, 0.5, 500000.0, True)
    attention_case("attention_mha", 2, 70, 2, 2, 32)
    attention_case("attention_gqa", 1, 130, 4, 2, 32)
    attention_case("attention_gqa_d64", 1, 80, 3, 1, 64)
    attention_case("attention_mqa_tile", 1, 64, 2, 1, 16)
    attention_case("attention_short", 2, 5, 2, 1, 48)
    attention_case("attention_mla_dims", 1, 70, 2, 2, 48, dv=32, scale=0.3)
    swiglu()
    gelu()
    bias()
    cross_entropy()
    adamw()
    sgd()
    grad_norm()
    router_case("router_softmax", 24, 8, 2, "softmax", False, 1.0)
    router_case("router_pre_softmax", 24, 8, 2, "softmax", True, 1.0)
    router_case("router_sigmoid", 24, 16, 3, "sigmoid", False, 2.5)
    moe()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
