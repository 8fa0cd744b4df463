#!/usr/bin/python3
"""Self-checks of llama_reference.py, run by make_model_fixtures.py before it writes anything
(and runnable alone). The reference is the yardstick for the engine, so its layout-sensitive
parts are checked against second formulations written differently:

- attention block: a per-head, per-position loop in numpy that slices Wq/Wk/Wv out of the
  fused linear_qkv by Megatron's per-group layout, applies rotary embeddings as complex
  multiplication of the channel pairs (i, i + rot/2), and softmaxes each query's causal row;
- Llama 3.1 frequency scaling: the piecewise definition, one frequency at a time;
- bf16 matmul emulation: forward and backward against explicit rounded products;
- gradients: central finite differences of the loss for a few parameter entries (autograd is
  trusted, this catches a detached or mis-wired parameter);
- safetensors_file.py: save/load round trip with every dtype.
"""
import math
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llama_reference as ref  # noqa: E402
import safetensors_file  # noqa: E402


def tiny_config(**kw):
    base = dict(num_layers=2, hidden_size=24, ffn_hidden_size=20, num_attention_heads=6,
                num_query_groups=2, kv_channels=8, vocab_size=30, padded_vocab_size=32,
                rotary_percent=0.5, rotary_base=10000)
    base.update(kw)
    return ref.ModelConfig(**base)


def random_weights(cfg, rng, std=0.3):
    out = {}
    for name, shape in ref.parameter_shapes(cfg).items():
        if len(shape) == 1 and not name.endswith(".bias"):
            out[name] = (1.0 + rng.normal(0, 0.2, shape)).astype(np.float32)
        else:
            out[name] = rng.normal(0, std, shape).astype(np.float32)
    return out


def loop_norm(x, w, b, cfg):
    if cfg.normalization == "RMSNorm":
        return x / math.sqrt(np.mean(x * x) + cfg.norm_epsilon) * w
    mu = np.mean(x)
    return (x - mu) / math.sqrt(np.mean((x - mu) ** 2) + cfg.norm_epsilon) * w + b


def loop_attention(cfg, W, prefix, x):
    """x [s, h] numpy float64 -> attention block output [s, h], one head and position at a time."""
    n, g, d = cfg.num_attention_heads, cfg.num_query_groups, cfg.kv_channels
    per = n // g
    s = x.shape[0]
    wqkv = W[prefix + ".linear_qkv.weight"].astype(np.float64)
    bqkv = W.get(prefix + ".linear_qkv.bias")
    bqkv = np.zeros(wqkv.shape[0]) if bqkv is None else bqkv.astype(np.float64)
    rot = int(d * cfg.rotary_percent)
    inv = np.array([cfg.rotary_base ** (-2.0 * i / rot) for i in range(rot // 2)])
    if cfg.use_rope_scaling:
        inv = np.array([piecewise_llama31(f) for f in inv])

    def rows(start):
        return wqkv[start:start + d], bqkv[start:start + d]

    def maybe_norm(vec, which):
        if not cfg.qk_layernorm:
            return vec
        w = W[f"{prefix}.{which}_layernorm.weight"]
        b = W.get(f"{prefix}.{which}_layernorm.bias")
        return loop_norm(vec, w, b, cfg)

    def rotate(vec, pos):
        out = vec.copy()
        for i in range(rot // 2):
            z = complex(vec[i], vec[i + rot // 2]) * complex(math.cos(pos * inv[i]), math.sin(pos * inv[i]))
            out[i], out[i + rot // 2] = z.real, z.imag
        return out

    heads_out = np.zeros((s, n * d))
    for h in range(n):
        j, i = divmod(h, per)
        base = j * (per + 2) * d
        wq, bq = rows(base + i * d)
        wk, bk = rows(base + per * d)
        wv, bv = rows(base + (per + 1) * d)
        q = [rotate(maybe_norm(wq @ x[t] + bq, "q"), t) for t in range(s)]
        k = [rotate(maybe_norm(wk @ x[t] + bk, "k"), t) for t in range(s)]
        v = [wv @ x[t] + bv for t in range(s)]
        for t in range(s):
            scores = np.array([q[t] @ k[u] / math.sqrt(d) for u in range(t + 1)])
            p = np.exp(scores - scores.max())
            p /= p.sum()
            heads_out[t, h * d:(h + 1) * d] = sum(p[u] * v[u] for u in range(t + 1))
    out = heads_out @ W[prefix + ".linear_proj.weight"].astype(np.float64).T
    bp = W.get(prefix + ".linear_proj.bias")
    return out if bp is None else out + bp


def piecewise_llama31(freq):
    wavelen = 2 * math.pi / freq
    low = ref.ROPE_ORIGINAL_MAX_POSITIONS / ref.ROPE_LOW_FREQ_FACTOR
    high = ref.ROPE_ORIGINAL_MAX_POSITIONS / ref.ROPE_HIGH_FREQ_FACTOR
    if wavelen < high:
        return freq
    if wavelen > low:
        return freq / ref.ROPE_SCALING_FACTOR
    smooth = (ref.ROPE_ORIGINAL_MAX_POSITIONS / wavelen - ref.ROPE_LOW_FREQ_FACTOR) / (
        ref.ROPE_HIGH_FREQ_FACTOR - ref.ROPE_LOW_FREQ_FACTOR)
    return (1 - smooth) * freq / ref.ROPE_SCALING_FACTOR + smooth * freq


def check_attention():
    rng = np.random.default_rng(7)
    for kw in [dict(), dict(num_query_groups=6), dict(num_query_groups=1),
               dict(qk_layernorm=True, add_qkv_bias=True, rotary_percent=1.0),
               dict(normalization="LayerNorm", qk_layernorm=True, add_bias_linear=True),
               dict(use_rope_scaling=True, rotary_base=500000, rotary_percent=1.0)]:
        cfg = tiny_config(**kw)
        W = random_weights(cfg, rng)
        x = rng.normal(0, 1, (2, 7, cfg.hidden_size))
        params = {k: torch.tensor(v, dtype=torch.float64) for k, v in W.items()}
        model = ref.LlamaReference(cfg, params)
        got = model.attention(torch.tensor(x), "decoder.layers.1.self_attention").numpy()
        for b in range(2):
            want = loop_attention(cfg, W, "decoder.layers.1.self_attention", x[b])
            err = np.abs(got[b] - want).max()
            assert err < 1e-10, f"attention {kw}: max error {err}"


def check_llama31():
    inv = 1.0 / (500000.0 ** (torch.arange(0, 64, 2, dtype=torch.float64) / 64))
    got = ref.llama31_scale(inv).numpy()
    want = np.array([piecewise_llama31(float(f)) for f in inv])
    assert np.allclose(got, want, rtol=1e-14, atol=0), (got, want)
    # All three regimes occur at these sizes (what the rope_scaling fixture relies on too).
    wavelen = 2 * math.pi / inv.numpy()
    assert (wavelen < 2048).any() and (wavelen > 8192).any()
    assert ((wavelen >= 2048) & (wavelen <= 8192)).any()


def check_bf16_matmul():
    torch.manual_seed(3)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    y = ref._Bf16Matmul.apply(x, w)
    xb, wb = ref.round_bf16(x.detach()), ref.round_bf16(w.detach())
    assert torch.equal(y, xb @ wb.t())
    dy = torch.randn(3, 5, 6, dtype=torch.float64)
    y.backward(dy)
    dyb = ref.round_bf16(dy)
    assert torch.allclose(x.grad, dyb @ wb, rtol=1e-14, atol=1e-14)
    assert torch.allclose(w.grad, torch.einsum("bso,bsi->oi", dyb, xb), rtol=1e-13, atol=1e-13)
    # round_bf16 is round-to-nearest-even of the float32 value.
    assert float(ref.round_bf16(torch.tensor(1.0 + 2.0 ** -8, dtype=torch.float64))) == 1.0
    assert float(ref.round_bf16(torch.tensor(1.0 + 3 * 2.0 ** -8, dtype=torch.float64))) == 1.0 + 2.0 ** -6


def check_finite_differences():
    rng = np.random.default_rng(11)
    for kw in [dict(normalization="LayerNorm", qk_layernorm=True, add_bias_linear=True, swiglu=False),
               dict(untie_embeddings_and_output_weights=False, use_rope_scaling=True)]:
        cfg = tiny_config(**kw)
        W = random_weights(cfg, rng)
        tokens = rng.integers(0, cfg.vocab_size, (2, 6))
        labels = rng.integers(0, cfg.vocab_size, (2, 6))
        mask = np.array([[1, 1, 0, 1, 1, 1], [1, 0, 1, 1, 1, 0]], dtype=np.float64)
        res = ref.loss_and_grads(cfg, W, tokens, labels, mask)
        names = list(ref.parameter_shapes(cfg))
        for name in names[:: max(1, len(names) // 6)] + [names[-1]]:
            flat = W[name].reshape(-1)
            grad = res["grad." + name].numpy().reshape(-1)
            idx = int(np.argmax(np.abs(grad)))
            h = 1e-4
            losses = []
            for sign in (1, -1):
                Wp = {k: v.astype(np.float64) for k, v in W.items()}
                Wp[name] = flat.astype(np.float64).copy()
                Wp[name][idx] += sign * h
                Wp[name] = Wp[name].reshape(W[name].shape)
                params = {k: torch.tensor(v, dtype=torch.float64) for k, v in Wp.items()}
                logits, _ = ref.LlamaReference(cfg, params).forward(torch.tensor(tokens))
                loss = ref.masked_loss(ref.token_losses(logits, torch.tensor(labels), cfg.vocab_size),
                                       torch.tensor(mask))
                losses.append(float(loss))
            fd = (losses[0] - losses[1]) / (2 * h)
            assert abs(fd - grad[idx]) <= 1e-6 * max(1.0, abs(fd)), (kw, name, fd, grad[idx])


def check_safetensors_file():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        tensors = {"a": np.arange(5, dtype=np.uint8), "b": np.ones((2, 3), np.float32),
                   "c": ("BF16", safetensors_file.bf16_bits(np.array([1.5, -2.0], np.float32))),
                   "d": np.array([1, 2], np.int64), "s": np.array(3.0, np.float32)}
        safetensors_file.save(path, tensors, {"k": "v"})
        back, meta = safetensors_file.load(path)
        assert meta == {"k": "v"}
        assert np.array_equal(back["a"], tensors["a"]) and np.array_equal(back["b"], tensors["b"])
        assert np.array_equal(back["c"], np.array([1.5, -2.0], np.float32))
        assert back["s"].shape == () and float(back["s"]) == 3.0
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        assert n % 8 == 0
        assert not os.path.exists(path + ".tmp")


def run_all():
    check_attention()
    check_llama31()
    check_bf16_matmul()
    check_finite_differences()
    check_safetensors_file()
    print("reference self-checks passed")


if __name__ == "__main__":
    run_all()
