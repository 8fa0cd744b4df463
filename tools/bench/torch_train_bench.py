"""PyTorch side of tools/bench/train_bench.sh: times real training steps of a Llama-family
decoder (Megatron-Core GPTModel semantics, the model of tools/reference/model/llama_reference.py)
on the CPU, and prints one JSON line with the step times and the peak RSS.

Run with Debian's torch (/usr/bin/python3: torch 1.13). The model is written the way one would
write it for speed in plain PyTorch, not the way the fidelity reference is (that one works in
float64 and emulates bf16 rounding): fp32 parameters, F.linear, a fused QKV projection in
Megatron's per-query-group layout, rotary tables computed once, grouped-query attention without
copying K/V per query head (the query heads of a group are stacked along the rows of one batched
matmul), an additive causal mask applied by baddbmm, F.cross_entropy, AdamW with decoupled weight
decay (no decay on norm weights), torch.nn.utils.clip_grad_norm_ and zero_grad(set_to_none=True).
bf16 is torch.autocast("cpu", dtype=torch.bfloat16) around the forward pass (matmuls in bf16,
parameters, gradients and optimizer in fp32), the loss in fp32.

One step = zero_grad, forward, masked-mean cross-entropy, backward, global-norm clipping,
AdamW step: what the engine's iteration does for one micro-batch per global batch.

--check compares this model's loss and every gradient, in float64 on a small configuration,
with the fidelity reference (llama_reference.loss_and_grads), so the benchmark times the same
model the fixtures are made from.

usage: torch_train_bench.py [--layers 8 --hidden 512 --ffn 1408 --heads 8 --groups 4
                             --vocab 32000 --seq 512 --batch 8] [--steps 13] [--warmup 3]
                            [--threads 2] [--bf16] [--check]
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference",
                                "model"))
import llama_reference as ref  # noqa: E402


class Llama(torch.nn.Module):
    """Pre-norm RMSNorm decoder, SwiGLU MLP, rotary embeddings, GQA, untied output layer, no
    biases: tiny_llama's architecture. Parameters carry Megatron-Core's names (dots replaced by
    '__' in the module's own attribute names)."""

    def __init__(self, cfg, dtype=torch.float32, init_std=0.02):
        super().__init__()
        self.cfg = cfg
        self.names = list(ref.parameter_shapes(cfg))
        gen = torch.Generator().manual_seed(1234)
        out_std = init_std / math.sqrt(2.0 * cfg.num_layers)
        for name, shape in ref.parameter_shapes(cfg).items():
            if len(shape) == 1:
                t = torch.ones(shape, dtype=dtype)
            else:
                std = out_std if name.endswith(("linear_proj.weight", "linear_fc2.weight")) else init_std
                t = torch.empty(shape, dtype=dtype).normal_(0.0, std, generator=gen)
            self.register_parameter(name.replace(".", "__"), torch.nn.Parameter(t))
        self.rope_cache = {}

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.norm_epsilon) * self.p(name)

    def tables(self, s, dtype):
        key = (s, dtype)
        if key not in self.rope_cache:
            d = self.cfg.kv_channels
            inv = 1.0 / (float(self.cfg.rotary_base) ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
            ang = torch.arange(s, dtype=torch.float64)[:, None] * inv[None, :]
            cos = torch.cat([ang.cos(), ang.cos()], -1).to(dtype)
            sin = torch.cat([ang.sin(), ang.sin()], -1).to(dtype)
            # Additive causal mask for the pg stacked query heads of a group: [pg * s, s].
            pg = self.cfg.num_attention_heads // self.cfg.num_query_groups
            mask = torch.full((s, s), float("-inf"), dtype=dtype).triu(1).repeat(pg, 1)
            self.rope_cache[key] = (cos, sin, mask)
        return self.rope_cache[key]

    @staticmethod
    def rope(x, cos, sin):
        """x [..., s, d] with cos/sin [s, d]; non-interleaved rotate_half."""
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def attention(self, x, prefix, cos, sin, mask):
        cfg = self.cfg
        b, s, _ = x.shape
        n, g, d = cfg.num_attention_heads, cfg.num_query_groups, cfg.kv_channels
        pg = n // g
        qkv = F.linear(x, self.p(prefix + ".linear_qkv.weight")).view(b, s, g, pg + 2, d)
        qkv = qkv.permute(0, 2, 3, 1, 4)  # [b, g, pg + 2, s, d]
        q = self.rope(qkv[:, :, :pg], cos, sin)  # [b, g, pg, s, d]
        k = self.rope(qkv[:, :, pg], cos, sin)  # [b, g, s, d]
        v = qkv[:, :, pg + 1]
        # The pg query heads of a group share its K/V: stack them along the rows.
        q = q.reshape(b * g, pg * s, d)
        k = k.reshape(b * g, s, d)
        v = v.reshape(b * g, s, d)
        scores = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(d))
        probs = torch.softmax(scores, dim=-1)
        out = torch.bmm(probs.to(v.dtype), v).view(b, g, pg, s, d)
        out = out.permute(0, 3, 1, 2, 4).reshape(b, s, n * d)  # head-major, as Megatron
        return F.linear(out, self.p(prefix + ".linear_proj.weight"))

    def mlp(self, x, prefix):
        gate, up = F.linear(x, self.p(prefix + ".linear_fc1.weight")).chunk(2, dim=-1)
        return F.linear(F.silu(gate) * up, self.p(prefix + ".linear_fc2.weight"))

    def forward(self, tokens):
        cfg = self.cfg
        x = F.embedding(tokens, self.p("embedding.word_embeddings.weight"))
        cos, sin, mask = self.tables(tokens.shape[1], x.dtype)
        for i in range(cfg.num_layers):
            p = f"decoder.layers.{i}"
            x = x + self.attention(self.rms(x, p + ".input_layernorm.weight"),
                                   p + ".self_attention", cos, sin, mask)
            x = x + self.mlp(self.rms(x, p + ".pre_mlp_layernorm.weight"), p + ".mlp")
        x = self.rms(x, "decoder.final_layernorm.weight")
        return F.linear(x, self.p("output_layer.weight"))


def loss_fn(logits, labels, loss_mask):
    """Megatron's loss: sum(ce * mask) / sum(mask), in fp32."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1),
                         reduction="none")
    return (ce * loss_mask.view(-1)).sum() / loss_mask.sum()


def make_config(a):
    return ref.ModelConfig(num_layers=a.layers, hidden_size=a.hidden, ffn_hidden_size=a.ffn,
                           num_attention_heads=a.heads, num_query_groups=a.groups,
                           kv_channels=a.hidden // a.heads, vocab_size=a.vocab,
                           padded_vocab_size=a.vocab, rotary_base=a.rotary_base)


def check():
    """float64 loss and gradients against the fidelity reference on a small configuration."""
    cfg = ref.ModelConfig(num_layers=2, hidden_size=64, ffn_hidden_size=96, num_attention_heads=4,
                          num_query_groups=2, kv_channels=16, vocab_size=100,
                          padded_vocab_size=100, rotary_base=10000)
    model = Llama(cfg, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, cfg.vocab_size, (3, 24), generator=gen)
    labels = torch.randint(0, cfg.vocab_size, (3, 24), generator=gen)
    mask = (torch.rand(3, 24, generator=gen) > 0.2).double()
    loss = loss_fn(model(tokens), labels, mask)
    loss.backward()
    weights = {name: model.p(name).detach().numpy() for name in model.names}
    want = ref.loss_and_grads(cfg, weights, tokens.numpy(), labels.numpy(), mask.numpy())
    worst = abs(float(loss) - float(want["loss"])) / abs(float(want["loss"]))
    for name in model.names:
        g, w = model.p(name).grad, want["grad." + name]
        worst = max(worst, float((g - w).norm() / w.norm()))
    ok = worst < 1e-10
    print(f"check vs llama_reference (float64, small config): worst relative error {worst:.2e}"
          f" {'ok' if ok else 'MISMATCH'}", file=sys.stderr)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--ffn", type=int, default=1408)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--rotary-base", type=float, default=10000)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=13, help="steps in all, warm-up included")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--check", action="store_true", help="only compare with llama_reference")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        sys.exit(0 if check() else 1)
    if a.steps <= a.warmup:
        ap.error("--steps must exceed --warmup")

    cfg = make_config(a)
    model = Llama(cfg)
    params = [model.p(n) for n in model.names]
    decay = [model.p(n) for n in model.names if model.p(n).dim() > 1]
    no_decay = [model.p(n) for n in model.names if model.p(n).dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq), generator=gen)
    labels = torch.roll(tokens, -1, dims=1)
    mask = torch.ones(a.batch, a.seq)

    times, losses = [], []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if a.bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(tokens)
        else:
            logits = model(tokens)
        loss = loss_fn(logits, labels, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
        del logits, loss
    measured = times[a.warmup:]
    med = statistics.median(measured)
    print(json.dumps({
        "precision": "bf16" if a.bf16 else "fp32",
        "threads": torch.get_num_threads(),
        "steps": a.steps, "warmup": a.warmup, "measured": len(measured),
        "step_seconds": [round(t, 4) for t in times],
        "median_step_seconds": med,
        "tokens_per_second": a.batch * a.seq / med,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loss_first_last": [losses[0], losses[-1]],
    }))


if __name__ == "__main__":
    main()
