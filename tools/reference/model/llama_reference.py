"""PyTorch reference of a Llama-family decoder with Megatron-Core GPTModel semantics, used to
produce the engine's fidelity fixtures (run with /usr/bin/python3: torch 1.13, numpy 1.24).

Written from the architecture (Megatron-Core's GPTModel with a TransformerLayer spec, the Llama
papers), not from the C++ engine. Plain PyTorch autograd gives every gradient, so the only thing
this file has to get right is the forward pass and the optimizer step.

Model, in Megatron-Core terms (tensors here are batch-first [b, s, ...]; Megatron keeps
[s, b, ...], which changes no value):
  x = embedding.word_embeddings.weight[tokens]                        (no position embedding)
  per layer i:
    x = x + linear_proj(attention(input_layernorm(x)))
    x = x + linear_fc2(act(linear_fc1(pre_mlp_layernorm(x))))
  logits = final_layernorm(x) @ W_out^T, W_out = output_layer.weight, or the embedding
           table when untie_embeddings_and_output_weights is false (tied)
  loss = sum(ce * loss_mask) / sum(loss_mask), ce over the first vocab_size logits only
Details:
  - Norms: RMSNorm  y = x / sqrt(mean(x^2) + eps) * w;
           LayerNorm y = (x - mean) / sqrt(var + eps) * w + b (biased variance).
  - Fused QKV, Megatron's per-query-group layout: linear_qkv's output of width (n + 2g) * d
    is viewed as [g, n/g + 2, d]: for each group j, its n/g query heads, then its key, then its
    value. Query head h = j * (n/g) + i attends with key/value group j = h // (n/g).
  - qk_layernorm: q_layernorm / k_layernorm (same norm type, weight [d], + bias [d] for
    LayerNorm) normalise each head's d-vector of q and k, before rotary embeddings.
  - Rotary embeddings (non-interleaved, "rotate_half"): rot = int(d * rotary_percent) first
    channels of each q/k head rotate, the rest pass through. inv_freq[i] = base^(-2i/rot),
    angle = position * inv_freq (positions 0..s-1), cos/sin repeated twice along the channel;
    y = x * cos + rotate_half(x) * sin, rotate_half([x1, x2]) = [-x2, x1] (halves of rot).
  - use_rope_scaling (Llama 3.1): factor 8, low_freq_factor 1, high_freq_factor 4, original
    context 8192. With wavelen = 2*pi / inv_freq: wavelen < 8192/4 keeps inv_freq, wavelen >
    8192/1 divides it by 8, and in between it is blended: s = (8192/wavelen - 1) / (4 - 1),
    inv_freq * ((1 - s) / 8 + s).
  - Attention: softmax(q k^T / sqrt(d)) v with a causal mask (key j <= query i), no dropout;
    heads concatenated head-major into [b, s, n*d] for linear_proj.
  - MLP: swiglu: linear_fc1 is cat([gate, up]) along rows ([2*ffn, h]); act = silu(gate) * up.
    Otherwise act = gelu with the exact erf form (the engine's; Megatron's fused bias-gelu
    would use the tanh approximation).
  - Biases: add_bias_linear puts a bias on linear_qkv, linear_proj, linear_fc1, linear_fc2;
    add_qkv_bias on linear_qkv only. The output layer never has a bias.
  - Loss with gradient accumulation: a global batch of several micro-batches has the mean of
    the micro-batches' masked means (each micro-batch normalised by its own mask sum).
    Computing all rows in one forward pass gives the same values as one pass per micro-batch:
    samples do not interact.
  - Loss: logits are computed over padded_vocab_size columns (the padded rows of the output
    weight exist), but the padded columns are excluded from the softmax (the engine's choice:
    Megatron itself would include them). Cross-entropy in the working precision.

Precision: the reference works in float64 (`dtype`) from the float32 values stored in the
fixture, so the fixtures hold the exact answer rounded once to float32, and a test measures the
engine's error only. bf16 mode emulates mixed precision: every linear layer (QKV, projection,
FC1, FC2, output layer) rounds its operands to bfloat16 (round to nearest even) before the
product and accumulates in high precision, in the forward GEMM and both backward GEMMs (dx from
bf16(dy), bf16(W); dW from bf16(dy), bf16(x)); biases are added in full precision; attention,
norms, rotary, activations, loss, gradients and the optimizer stay in full precision.

Optimizer (train()): torch.optim.AdamW (decoupled weight decay; Megatron's Adam with
decoupled weight decay computes the same update). Weight decay only on parameters with two or
more dimensions (Megatron's no-decay group: biases and norm weights). Global-norm gradient
clipping as Megatron: norm = sqrt(sum of squares of all gradients, tied weight counted once);
coeff = clip_grad / (norm + 1e-6); gradients are multiplied by coeff when coeff < 1. Constant
learning rate.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass

import torch


@dataclass
class ModelConfig:
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_query_groups: int
    kv_channels: int
    vocab_size: int
    padded_vocab_size: int
    normalization: str = "RMSNorm"  # or "LayerNorm"
    norm_epsilon: float = 1e-5
    swiglu: bool = True
    add_bias_linear: bool = False
    add_qkv_bias: bool = False
    qk_layernorm: bool = False
    untie_embeddings_and_output_weights: bool = True
    rotary_base: float = 10000
    rotary_percent: float = 1.0
    use_rope_scaling: bool = False
    bf16: bool = False

    def __post_init__(self):
        if self.normalization not in ("RMSNorm", "LayerNorm"):
            raise ValueError(f"normalization {self.normalization!r}")
        if self.num_attention_heads % self.num_query_groups:
            raise ValueError("num_attention_heads must be a multiple of num_query_groups")
        if self.padded_vocab_size < self.vocab_size:
            raise ValueError("padded_vocab_size < vocab_size")

    @property
    def rot_dim(self):
        return int(self.kv_channels * self.rotary_percent)


# Llama 3.1 frequency scaling constants (Megatron-Core's defaults for --use-rope-scaling).
ROPE_SCALING_FACTOR = 8.0
ROPE_LOW_FREQ_FACTOR = 1.0
ROPE_HIGH_FREQ_FACTOR = 4.0
ROPE_ORIGINAL_MAX_POSITIONS = 8192.0

# Megatron's clip_grad_norm_fp32 adds this to the norm before dividing.
CLIP_EPS = 1e-6


def parameter_shapes(cfg):
    """Megatron-Core names and shapes of every parameter, in module order."""
    h, n, g, d = cfg.hidden_size, cfg.num_attention_heads, cfg.num_query_groups, cfg.kv_channels
    layer_norm = cfg.normalization == "LayerNorm"
    out = OrderedDict()

    def norm(prefix, width):
        out[prefix + ".weight"] = (width,)
        if layer_norm:
            out[prefix + ".bias"] = (width,)

    out["embedding.word_embeddings.weight"] = (cfg.padded_vocab_size, h)
    for i in range(cfg.num_layers):
        p = f"decoder.layers.{i}."
        norm(p + "input_layernorm", h)
        out[p + "self_attention.linear_qkv.weight"] = ((n + 2 * g) * d, h)
        if cfg.add_bias_linear or cfg.add_qkv_bias:
            out[p + "self_attention.linear_qkv.bias"] = ((n + 2 * g) * d,)
        if cfg.qk_layernorm:
            norm(p + "self_attention.q_layernorm", d)
            norm(p + "self_attention.k_layernorm", d)
        out[p + "self_attention.linear_proj.weight"] = (h, n * d)
        if cfg.add_bias_linear:
            out[p + "self_attention.linear_proj.bias"] = (h,)
        norm(p + "pre_mlp_layernorm", h)
        fc1 = 2 * cfg.ffn_hidden_size if cfg.swiglu else cfg.ffn_hidden_size
        out[p + "mlp.linear_fc1.weight"] = (fc1, h)
        if cfg.add_bias_linear:
            out[p + "mlp.linear_fc1.bias"] = (fc1,)
        out[p + "mlp.linear_fc2.weight"] = (h, cfg.ffn_hidden_size)
        if cfg.add_bias_linear:
            out[p + "mlp.linear_fc2.bias"] = (h,)
    norm("decoder.final_layernorm", h)
    if cfg.untie_embeddings_and_output_weights:
        out["output_layer.weight"] = (cfg.padded_vocab_size, h)
    return out


def no_weight_decay(name, shape):
    """Megatron's no-decay group: biases and every 1-D parameter (norm weights)."""
    return name.endswith(".bias") or len(shape) == 1


# ---------------------------------------------------------------------------------------------
# bf16 emulation


def round_bf16(t):
    """Rounds to the nearest bfloat16 (ties to even, via float32 as the engine holds values)
    and returns the value in t's dtype."""
    return t.to(torch.float32).to(torch.bfloat16).to(t.dtype)


class _Bf16Matmul(torch.autograd.Function):
    """y = bf16(x) @ bf16(w)^T; backward: dx = bf16(dy) @ bf16(w), dw = bf16(dy)^T @ bf16(x)."""

    @staticmethod
    def forward(ctx, x, w):
        xb, wb = round_bf16(x), round_bf16(w)
        ctx.save_for_backward(xb, wb)
        return xb @ wb.t()

    @staticmethod
    def backward(ctx, dy):
        xb, wb = ctx.saved_tensors
        dyb = round_bf16(dy)
        dx = dyb @ wb
        dw = dyb.reshape(-1, dyb.shape[-1]).t() @ xb.reshape(-1, xb.shape[-1])
        return dx, dw


# ---------------------------------------------------------------------------------------------
# Model


class LlamaReference:
    """Forward pass over a dict of parameter tensors (the names of parameter_shapes)."""

    def __init__(self, cfg, params):
        self.cfg = cfg
        self.p = params

    def linear(self, x, prefix, bias=True):
        w = self.p[prefix + ".weight"]
        y = _Bf16Matmul.apply(x, w) if self.cfg.bf16 else x @ w.t()
        b = self.p.get(prefix + ".bias") if bias else None
        return y if b is None else y + b

    def norm(self, x, prefix):
        w = self.p[prefix + ".weight"]
        eps = self.cfg.norm_epsilon
        if self.cfg.normalization == "RMSNorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + eps) * w + self.p[prefix + ".bias"]

    def inv_freq(self, dtype):
        rot = self.cfg.rot_dim
        inv = 1.0 / (float(self.cfg.rotary_base) ** (torch.arange(0, rot, 2, dtype=dtype) / rot))
        if self.cfg.use_rope_scaling:
            inv = llama31_scale(inv)
        return inv

    def rope(self, x):
        """x [b, s, heads, d] -> rotated copy."""
        rot = self.cfg.rot_dim
        s = x.shape[1]
        angles = torch.arange(s, dtype=x.dtype)[:, None] * self.inv_freq(x.dtype)[None, :]
        cos = torch.cat([angles.cos(), angles.cos()], -1)[None, :, None, :]
        sin = torch.cat([angles.sin(), angles.sin()], -1)[None, :, None, :]
        xr, xpass = x[..., :rot], x[..., rot:]
        x1, x2 = xr[..., : rot // 2], xr[..., rot // 2:]
        rotated = torch.cat([-x2, x1], -1)
        return torch.cat([xr * cos + rotated * sin, xpass], -1)

    def attention(self, x, prefix):
        cfg = self.cfg
        b, s, _ = x.shape
        n, g, d = cfg.num_attention_heads, cfg.num_query_groups, cfg.kv_channels
        per_group = n // g
        qkv = self.linear(x, prefix + ".linear_qkv").view(b, s, g, per_group + 2, d)
        q = qkv[:, :, :, :per_group, :].reshape(b, s, n, d)
        k = qkv[:, :, :, per_group, :]  # [b, s, g, d]
        v = qkv[:, :, :, per_group + 1, :]
        if cfg.qk_layernorm:
            q = self.norm(q, prefix + ".q_layernorm")
            k = self.norm(k, prefix + ".k_layernorm")
        q, k = self.rope(q), self.rope(k)
        k = k.repeat_interleave(per_group, dim=2)  # query head h uses group h // per_group
        v = v.repeat_interleave(per_group, dim=2)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d)
        future = torch.ones(s, s, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, s, n * d)
        return self.linear(out, prefix + ".linear_proj")

    def mlp(self, x, prefix):
        h = self.linear(x, prefix + ".linear_fc1")
        if self.cfg.swiglu:
            gate, up = h.chunk(2, dim=-1)
            a = torch.nn.functional.silu(gate) * up
        else:
            a = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        return self.linear(a, prefix + ".linear_fc2")

    def forward(self, tokens):
        """tokens [b, s] int64 -> (logits [b, s, padded_vocab], activations dict)."""
        acts = OrderedDict()
        x = self.p["embedding.word_embeddings.weight"][tokens]
        acts["embedding"] = x
        for i in range(self.cfg.num_layers):
            p = f"decoder.layers.{i}"
            x = x + self.attention(self.norm(x, p + ".input_layernorm"), p + ".self_attention")
            x = x + self.mlp(self.norm(x, p + ".pre_mlp_layernorm"), p + ".mlp")
            acts[p] = x
        x = self.norm(x, "decoder.final_layernorm")
        acts["decoder.final_layernorm"] = x
        out_w = "output_layer" if self.cfg.untie_embeddings_and_output_weights else "embedding.word_embeddings"
        logits = self.linear(x, out_w, bias=False)
        return logits, acts


def llama31_scale(inv_freq):
    """Llama 3.1 rotary frequency scaling (see the module docstring)."""
    low_wavelen = ROPE_ORIGINAL_MAX_POSITIONS / ROPE_LOW_FREQ_FACTOR
    high_wavelen = ROPE_ORIGINAL_MAX_POSITIONS / ROPE_HIGH_FREQ_FACTOR
    wavelen = 2 * math.pi / inv_freq
    smooth = (ROPE_ORIGINAL_MAX_POSITIONS / wavelen - ROPE_LOW_FREQ_FACTOR) / (
        ROPE_HIGH_FREQ_FACTOR - ROPE_LOW_FREQ_FACTOR)
    blended = inv_freq * ((1 - smooth) / ROPE_SCALING_FACTOR + smooth)
    out = torch.where(wavelen > low_wavelen, inv_freq / ROPE_SCALING_FACTOR, blended)
    return torch.where(wavelen < high_wavelen, inv_freq, out)


def token_losses(logits, labels, vocab_size):
    """Per-token cross-entropy over the first vocab_size logits: [b, s]."""
    lg = logits[..., :vocab_size]
    return torch.logsumexp(lg, dim=-1) - lg.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def masked_loss(losses, loss_mask, micro_batch_size=None):
    """Megatron's loss: sum(loss * mask) / sum(mask) per micro-batch (consecutive rows of
    micro_batch_size samples; the whole batch when None), averaged over the micro-batches
    (Megatron divides each micro-batch's loss by the number of micro-batches before backward,
    calculate_per_token_loss false)."""
    mbs = micro_batch_size or losses.shape[0]
    if losses.shape[0] % mbs:
        raise ValueError("batch is not a whole number of micro-batches")
    parts = [(losses[i:i + mbs] * loss_mask[i:i + mbs]).sum() / loss_mask[i:i + mbs].sum()
             for i in range(0, losses.shape[0], mbs)]
    return parts[0] if len(parts) == 1 else sum(parts) / len(parts)


# ---------------------------------------------------------------------------------------------
# Gradients and training


def make_params(cfg, weights, dtype):
    """Leaf tensors (requires_grad) of `dtype` from a dict of numpy arrays."""
    return OrderedDict((name, torch.tensor(weights[name], dtype=dtype).requires_grad_(True))
                       for name in parameter_shapes(cfg))


def loss_and_grads(cfg, weights, tokens, labels, loss_mask, dtype=torch.float64,
                   micro_batch_size=None):
    """One forward/backward from the given weights over a global batch (gradients accumulated
    over its micro-batches). Returns a dict of tensors: loss, losses, logits, act.<name> and
    grad.<param name>."""
    params = make_params(cfg, weights, dtype)
    model = LlamaReference(cfg, params)
    logits, acts = model.forward(torch.as_tensor(tokens, dtype=torch.long))
    losses = token_losses(logits, torch.as_tensor(labels, dtype=torch.long), cfg.vocab_size)
    loss = masked_loss(losses, torch.as_tensor(loss_mask, dtype=dtype), micro_batch_size)
    loss.backward()
    out = OrderedDict(loss=loss.detach(), losses=losses.detach(), logits=logits.detach())
    for name, t in acts.items():
        out["act." + name] = t.detach()
    for name, p in params.items():
        out["grad." + name] = p.grad.detach()
    return out


def clip_gradients(params, clip_grad):
    """Megatron's global-norm clipping; returns the norm before clipping."""
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params.values()))
    coeff = clip_grad / (float(norm) + CLIP_EPS)
    if coeff < 1.0:
        for p in params.values():
            p.grad.mul_(coeff)
    return float(norm)


def train(cfg, weights, tokens, labels, loss_mask, steps, lr, weight_decay, betas, eps,
          clip_grad, dtype=torch.float64, micro_batch_size=None):
    """`steps` AdamW steps on the same batch. Returns (losses, grad_norms): losses[i] is the loss
    of step i's forward pass (before that step's update: losses[0] is the initial loss) and
    grad_norms[i] the global gradient norm before clipping."""
    params = make_params(cfg, weights, dtype)
    shapes = parameter_shapes(cfg)
    decay = [p for n, p in params.items() if not no_weight_decay(n, shapes[n])]
    no_decay = [p for n, p in params.items() if no_weight_decay(n, shapes[n])]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=betas, eps=eps)
    model = LlamaReference(cfg, params)
    tok = torch.as_tensor(tokens, dtype=torch.long)
    lab = torch.as_tensor(labels, dtype=torch.long)
    mask = torch.as_tensor(loss_mask, dtype=dtype)
    losses, norms = [], []
    for _ in range(steps):
        opt.zero_grad(set_to_none=False)
        logits, _ = model.forward(tok)
        loss = masked_loss(token_losses(logits, lab, cfg.vocab_size), mask, micro_batch_size)
        loss.backward()
        norms.append(clip_gradients(params, clip_grad))
        opt.step()
        losses.append(float(loss))
    return losses, norms
