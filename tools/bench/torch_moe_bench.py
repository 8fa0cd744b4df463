"""PyTorch side of tools/bench/moe_bench.sh: times real training steps of a Mixture-of-Experts
decoder -- tiny_mixtral's (GQA + softmax top-k MoE with aux loss) or tiny_deepseek's
(DeepSeek-V2-Lite shape: multi-latent attention without q-LoRA, YaRN, dense first layer, MoE with
pre-softmax top-k, shared experts, sequence aux loss) -- or its dense twin, on the CPU, and prints
one JSON line with the step times, the peak RSS and Megatron's model FLOPs per token.

Run with Debian's torch (/usr/bin/python3: torch 1.13). The architecture comes from the engine's
own resolved configuration (`primus config show`, flat YAML: --config), so both sides train the
same model; the semantics are those of tools/reference/model/decoder_reference.py (see
tools/reference/model/README.md, "MoE, MLA, MTP and Qwen3 fixtures"). The model is written the
way one would write it for speed in plain PyTorch, not the way the reference is (float64,
every expert on every token):
  - fp32 parameters, F.linear, RMSNorm as one expression, rotary tables computed once;
  - GQA attention as tools/bench/torch_train_bench.py (fused QKV in Megatron's per-group layout,
    a group's query heads stacked along the rows of one baddbmm with an additive causal mask;
    torch 1.13 has no scaled_dot_product_attention);
  - MLA: q (or q-LoRA), kv down-projection, kv_layernorm, kv up-projection, decoupled rope on the
    positional part applied to the interleaved pairs directly (the reference's de-interleave +
    rotate-half, fused), YaRN frequencies and softmax scale computed once; heads batched into
    one baddbmm / bmm;
  - MoE: router F.linear, softmax top-k (after or before the softmax), token dispatch by one
    argsort of the (token, expert) pairs, one index_select into a permuted buffer, a grouped
    loop over contiguous per-expert rows (two F.linear per expert), the routing probability on
    the expert output, one index_add back (dropless, as Megatron's default); shared experts as a
    dense MLP over all tokens (with the optional sigmoid gate);
  - load-balancing losses (aux_loss, seq_aux_loss, global_aux_loss -- equal to aux_loss with one
    micro-batch per step) and the z-loss added to the masked-mean cross-entropy, as Megatron's
    MoEAuxLossAutoScaler contributes them to the gradient;
  - AdamW with decoupled weight decay (no decay on 1-D parameters), clip_grad_norm_(1.0),
    zero_grad(set_to_none=True).

One step = zero_grad, forward, loss + auxiliary losses, backward, global-norm clipping, AdamW
step: what the engine's iteration does for one micro-batch per global batch.

--dense-ffn N replaces every MLP (MoE or dense) with a dense SwiGLU MLP of width N: the dense
twin of moe_bench.sh (same attention, same active FLOPs per token when N is chosen as there).

--check compares this model's objective and every gradient, in float64 on small
configurations (Mixtral-like, DeepSeek-V2-Lite-like with YaRN and m_c != 1, and both dense
twins), with the fidelity reference (decoder_reference.loss_and_grads), so the benchmark times
the model the fixtures are made from. --describe prints the model's FLOPs per token and
parameter count without training.

usage: torch_moe_bench.py --config RESOLVED.yaml --vocab 32000 [--seq 256] [--batch 8]
                          [--steps 13] [--warmup 3] [--threads 2] [--dense-ffn N] [--describe]
       torch_moe_bench.py --check [--threads 1]
"""
import argparse
import json
import math
import os
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(_here, "..", "reference", "model"))
import decoder_reference as dref  # noqa: E402
import torch_train_bench as dense_bench  # noqa: E402


def fail(message):
    print(f"torch_moe_bench: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------
# Configuration from the engine's resolved configuration


def parse_scalar(text):
    """A scalar of `primus config show`'s flat YAML: null, true/false, a number or a string."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    if t in ("null", "~", ""):
        return None
    if t in ("true", "false"):
        return t == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def read_resolved(path):
    """The top-level `key: value` lines of a resolved (flat) configuration."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$", line.rstrip("\n"))
            if m:
                value = m.group(2).split(" #", 1)[0]
                out[m.group(1)] = parse_scalar(value)
    return out


def moe_layer_pattern(freq, num_layers, where):
    """Megatron's moe_layer_freq: an int N (every N-th layer, from layer 0) or a list
    expression such as ([0]*1+[1]*3) / [0,1,1,1]."""
    if freq is None:
        freq = 1
    if isinstance(freq, int):
        return [1 if i % freq == 0 else 0 for i in range(num_layers)]
    text = str(freq).replace(" ", "")
    if not re.fullmatch(r"[\[\]\(\)0-9,*+]+", text):
        fail(f"{where}: moe_layer_freq {freq!r} is neither an integer nor a list expression")
    pattern = eval(text, {"__builtins__": {}}, {})  # digits, brackets, * and + only (checked)
    if not isinstance(pattern, list) or len(pattern) != num_layers:
        fail(f"{where}: moe_layer_freq {freq!r} does not give one entry per layer ({num_layers})")
    return [int(bool(v)) for v in pattern]


def config_from_resolved(r, vocab, where, dense_ffn=None):
    """DecoderConfig (decoder_reference) of the resolved Megatron arguments; refuses, naming the
    key, what the fast model does not implement."""
    def need(key, ok, what):
        if not ok:
            fail(f"{where}: {key} = {r.get(key)!r}: {what} is not modelled by the fast PyTorch model")

    need("normalization", r.get("normalization") == "RMSNorm", "LayerNorm")
    need("add_bias_linear", not r.get("add_bias_linear"), "linear biases")
    need("add_qkv_bias", not r.get("add_qkv_bias"), "QKV biases")
    need("mtp_num_layers", not r.get("mtp_num_layers"), "multi-token prediction")
    need("position_embedding_type", r.get("position_embedding_type") == "rope", "non-rope positions")
    need("rotary_percent", float(r.get("rotary_percent") or 1.0) == 1.0, "partial rotary")
    need("use_rope_scaling", not r.get("use_rope_scaling"), "Llama 3.1 rope scaling")
    h, n = r["hidden_size"], r["num_attention_heads"]
    mla = bool(r.get("multi_latent_attention"))
    if not mla:
        need("qk_layernorm", not r.get("qk_layernorm"), "qk_layernorm with GQA")
    groups = r.get("num_query_groups") if r.get("group_query_attention") else n
    kw = dict(num_layers=r["num_layers"], hidden_size=h, ffn_hidden_size=r["ffn_hidden_size"],
              num_attention_heads=n, num_query_groups=groups or n,
              kv_channels=r.get("kv_channels") or h // n, vocab_size=vocab, padded_vocab_size=vocab,
              norm_epsilon=float(r.get("norm_epsilon", 1e-5)), swiglu=bool(r.get("swiglu")),
              qk_layernorm=bool(r.get("qk_layernorm")),
              untie_embeddings_and_output_weights=bool(r.get("untie_embeddings_and_output_weights")),
              rotary_base=float(r.get("rotary_base", 10000)))
    if mla:
        kw.update(multi_latent_attention=True, q_lora_rank=r.get("q_lora_rank"),
                  kv_lora_rank=r["kv_lora_rank"], qk_head_dim=r["qk_head_dim"],
                  qk_pos_emb_head_dim=r["qk_pos_emb_head_dim"], v_head_dim=r["v_head_dim"],
                  rope_type=r.get("rope_type"),
                  rotary_scaling_factor=float(r.get("rotary_scaling_factor") or 1.0),
                  # null: MLATransformerConfig's default (the engine's too)
                  original_max_position_embeddings=r.get("original_max_position_embeddings") or 4096,
                  beta_fast=float(r.get("beta_fast", 32.0)), beta_slow=float(r.get("beta_slow", 1.0)),
                  mscale=float(r.get("mscale", 1.0)), mscale_all_dim=float(r.get("mscale_all_dim", 0.0)))
    if dense_ffn is not None:
        kw["ffn_hidden_size"] = dense_ffn
    elif r.get("num_experts"):
        need("moe_router_score_function", r.get("moe_router_score_function", "softmax") == "softmax",
             "the sigmoid router")
        need("moe_router_enable_expert_bias", not r.get("moe_router_enable_expert_bias"), "expert bias")
        need("moe_router_num_groups", not r.get("moe_router_num_groups"), "group-limited routing")
        need("moe_expert_capacity_factor", r.get("moe_expert_capacity_factor") is None, "expert capacity")
        lb = r.get("moe_router_load_balancing_type") or "aux_loss"
        lb = [lb] if isinstance(lb, str) else list(lb)
        coeff = r.get("moe_aux_loss_coeff") or 0.0
        kw.update(num_experts=r["num_experts"],
                  moe_layer_freq=moe_layer_pattern(r.get("moe_layer_freq"), r["num_layers"], where),
                  moe_ffn_hidden_size=r.get("moe_ffn_hidden_size") or r["ffn_hidden_size"],
                  moe_router_topk=r["moe_router_topk"],
                  moe_router_pre_softmax=bool(r.get("moe_router_pre_softmax")),
                  moe_router_topk_scaling_factor=r.get("moe_router_topk_scaling_factor"),
                  moe_router_load_balancing_type=lb[0] if len(lb) == 1 else lb,
                  moe_aux_loss_coeff=coeff,
                  moe_z_loss_coeff=r.get("moe_z_loss_coeff"),
                  moe_shared_expert_intermediate_size=r.get("moe_shared_expert_intermediate_size"),
                  moe_shared_expert_gate=bool(r.get("moe_shared_expert_gate")))
    try:
        return dref.DecoderConfig(**kw)
    except ValueError as e:
        fail(f"{where}: {e}")


# ---------------------------------------------------------------------------------------------
# Megatron's model FLOPs (megatron-formats.md §4; the formula of src/train/flops.cpp)


def flops_per_token(cfg, seq):
    """Forward + backward FLOPs per token of one training step, Megatron's formula with the
    active (top-k routed + shared) experts; the causal attention core at sequence length seq.
    Returns (total, {part: flops}). Router, norms, rope, softmax and element-wise work are not
    counted (as in Megatron)."""
    h, L = cfg.hidden_size, cfg.num_layers
    f = 3 if cfg.swiglu else 2
    six = 6.0
    moe_layers = sum(cfg.moe_layer_freq) if cfg.num_experts else 0
    dense_layers = L - moe_layers
    mlp = six * h * cfg.ffn_hidden_size * f * dense_layers
    if cfg.num_experts:
        shared = cfg.moe_shared_expert_intermediate_size or 0
        mlp += six * h * (cfg.moe_ffn_hidden_size * cfg.moe_router_topk * f + shared * f) * moe_layers
    n = cfg.num_attention_heads
    if cfg.multi_latent_attention:
        qk = cfg.qk_head_dim + cfg.qk_pos_emb_head_dim
        q_term = (cfg.q_lora_rank * (h + n * qk + 1) if cfg.q_lora_rank else h * n * qk)
        proj = six * (q_term + cfg.kv_lora_rank * (h + n * (cfg.qk_head_dim + cfg.v_head_dim) + 1)
                      + h * cfg.qk_pos_emb_head_dim + n * cfg.v_head_dim * h) * L
        core = seq * six * (n * qk / 2 + n * cfg.v_head_dim / 2) * L
    else:
        q, kv = cfg.kv_channels * n, cfg.kv_channels * cfg.num_query_groups
        proj = six * (h * (q + 2 * kv) + q * h) * L
        core = seq * six * q / 2 * 2 * L
    logits = six * h * cfg.padded_vocab_size
    parts = {"mlp": mlp, "attention_projections": proj, "attention_core": core, "logits": logits}
    return sum(parts.values()), parts


def dense_twin_ffn(cfg):
    """The width of a dense MLP in every layer that gives the model the same MLP FLOPs per token
    under Megatron's formula (so the same total: attention and logits are unchanged): the mean
    over the layers of ffn (dense layers) and topk * moe_ffn + shared (MoE layers), rounded."""
    if not cfg.num_experts:
        return cfg.ffn_hidden_size
    moe_layers = sum(cfg.moe_layer_freq)
    active = cfg.moe_router_topk * cfg.moe_ffn_hidden_size + (cfg.moe_shared_expert_intermediate_size or 0)
    total = cfg.ffn_hidden_size * (cfg.num_layers - moe_layers) + active * moe_layers
    return round(total / cfg.num_layers)


# ---------------------------------------------------------------------------------------------
# The model


class MoeDecoder(dense_bench.Llama):
    """tiny_mixtral / tiny_deepseek (or a dense twin) for speed. Parameters carry Megatron-Core's
    local-spec names (decoder_reference.parameter_shapes; dots replaced by '__' in attribute
    names). GQA attention, RMSNorm and the rotary tables are torch_train_bench.Llama's."""

    def __init__(self, cfg, dtype=torch.float32, init_std=0.02, seed=1234):
        torch.nn.Module.__init__(self)
        self.cfg = cfg
        shapes = dref.parameter_shapes(cfg)
        self.names = list(shapes)
        gen = torch.Generator().manual_seed(seed)
        out_std = init_std / math.sqrt(2.0 * cfg.num_layers)
        for name, shape in shapes.items():
            if len(shape) == 1:
                t = torch.ones(shape, dtype=dtype)
            else:
                std = out_std if name.endswith(("linear_proj.weight", "linear_fc2.weight")) else init_std
                t = torch.empty(shape, dtype=dtype).normal_(0.0, std, generator=gen)
            self.register_parameter(name.replace(".", "__"), torch.nn.Parameter(t))
        self.rope_cache = {}
        self.aux_losses = []

    def w(self, prefix):
        return self.p(prefix + ".weight")

    # -- MLA ----------------------------------------------------------------------------------

    def mla_tables(self, s, dtype):
        key = ("mla", s, dtype)
        if key not in self.rope_cache:
            cfg = self.cfg
            inv = dref.mla_inv_freq(cfg, torch.float64)
            ang = torch.arange(s, dtype=torch.float64)[:, None] * inv[None, :]
            m = dref.mla_rope_scale(cfg)
            cos = (ang.cos() * m).to(dtype)[:, None, :]  # [s, 1, d_rope/2]: broadcast over heads
            sin = (ang.sin() * m).to(dtype)[:, None, :]
            mask = torch.full((s, s), float("-inf"), dtype=dtype).triu(1)
            self.rope_cache[key] = (cos, sin, mask)
        return self.rope_cache[key]

    @staticmethod
    def mla_rope(x, cos, sin):
        """x [b, s, heads, d_rope] in interleaved pairs -> rotated, de-interleaved: the
        reference's de-interleave followed by rotate-half, in one expression."""
        xe, xo = x[..., 0::2], x[..., 1::2]
        return torch.cat([xe * cos - xo * sin, xo * cos + xe * sin], -1)

    def mla_attention(self, x, prefix, tables):
        cfg = self.cfg
        b, s, _ = x.shape
        n, dn, dr, dv = cfg.num_attention_heads, cfg.qk_head_dim, cfg.qk_pos_emb_head_dim, cfg.v_head_dim
        cos, sin, mask = tables
        if cfg.q_lora_rank is None:
            q = F.linear(x, self.w(prefix + ".linear_q_proj"))
        else:
            cq = F.linear(x, self.w(prefix + ".linear_q_down_proj"))
            if cfg.qk_layernorm:
                cq = self.rms(cq, prefix + ".q_layernorm.weight")
            q = F.linear(cq, self.w(prefix + ".linear_q_up_proj"))
        q = q.view(b, s, n, dn + dr)
        ckv, k_rope = F.linear(x, self.w(prefix + ".linear_kv_down_proj")).split([cfg.kv_lora_rank, dr], -1)
        if cfg.qk_layernorm:
            ckv = self.rms(ckv, prefix + ".kv_layernorm.weight")
        kv = F.linear(ckv, self.w(prefix + ".linear_kv_up_proj")).view(b, s, n, dn + dv)
        k_rope = self.mla_rope(k_rope.view(b, s, 1, dr), cos, sin).expand(b, s, n, dr)
        query = torch.cat([q[..., :dn], self.mla_rope(q[..., dn:], cos, sin)], -1)
        key = torch.cat([kv[..., :dn], k_rope], -1)
        query = query.transpose(1, 2).reshape(b * n, s, dn + dr)
        key = key.transpose(1, 2).reshape(b * n, s, dn + dr)
        v = kv[..., dn:].transpose(1, 2).reshape(b * n, s, dv)
        scores = torch.baddbmm(mask, query, key.transpose(1, 2), alpha=dref.mla_softmax_scale(cfg))
        out = torch.bmm(torch.softmax(scores, dim=-1), v).view(b, n, s, dv)
        out = out.transpose(1, 2).reshape(b, s, n * dv)
        return F.linear(out, self.w(prefix + ".linear_proj"))

    # -- MLPs ---------------------------------------------------------------------------------

    def activation(self, y):
        if self.cfg.swiglu:
            gate, up = y.chunk(2, dim=-1)
            return F.silu(gate) * up
        return F.gelu(y)

    def dense_mlp(self, x, prefix):
        return F.linear(self.activation(F.linear(x, self.w(prefix + ".linear_fc1"))),
                        self.w(prefix + ".linear_fc2"))

    def moe(self, x, prefix):
        """MoE block on x [b, s, h]; appends its auxiliary losses to self.aux_losses."""
        cfg = self.cfg
        b, s, h = x.shape
        T, E, k = b * s, cfg.num_experts, cfg.moe_router_topk
        flat = x.reshape(T, h)  # batch-first token order: routing is per token
        logits = F.linear(flat, self.w(prefix + ".router"))
        if cfg.moe_z_loss_coeff:
            self.aux_losses.append(cfg.moe_z_loss_coeff * torch.logsumexp(logits, -1).pow(2).mean())
        scores = torch.softmax(logits, -1)
        if cfg.moe_router_pre_softmax:
            probs, idx = scores.topk(k, dim=-1)
        else:
            top, idx = logits.topk(k, dim=-1)
            probs = torch.softmax(top, -1)
        if cfg.moe_router_topk_scaling_factor:
            probs = probs * cfg.moe_router_topk_scaling_factor

        # Load-balancing losses: softmax scores over all experts; the top-k of the softmax is
        # the top-k of the logits, so the routing map's counts serve both.
        flat_idx = idx.reshape(-1)
        counts = torch.bincount(flat_idx, minlength=E)
        for kind in dref.LOAD_BALANCING_TYPES:
            coeff = cfg.aux_loss_coeff(kind)
            if coeff <= 0:
                continue
            if kind == "seq_aux_loss":  # per sequence, averaged over the b sequences
                P = scores.view(b, s, E).sum(1)
                c = torch.zeros(b, E, dtype=scores.dtype).scatter_add_(
                    1, idx.view(b, s * k), torch.ones(b, s * k, dtype=scores.dtype))
                loss = (P * c).sum() * (E * coeff / (k * s * s * b))
            else:  # aux_loss; global_aux_loss equals it with one micro-batch per step
                loss = (scores.sum(0) * counts.to(scores.dtype)).sum() * (E * coeff / (k * T * T))
            self.aux_losses.append(loss)

        # Dispatch: (token, expert) pairs sorted by expert, rows gathered, one grouped loop.
        order = torch.argsort(flat_idx)
        rows = torch.div(order, k, rounding_mode="floor")
        xs = flat.index_select(0, rows)
        ws = probs.reshape(-1).index_select(0, order).unsqueeze(1)
        sizes = counts.tolist()
        outs = []
        for e, (xe, we) in enumerate(zip(xs.split(sizes), ws.split(sizes))):
            if sizes[e]:
                ep = f"{prefix}.experts.local_experts.{e}"
                outs.append(self.dense_mlp(xe, ep) * we)  # = fc2(act · p) without biases
        out = torch.zeros_like(flat).index_add(0, rows, torch.cat(outs))
        if cfg.moe_shared_expert_intermediate_size:
            sp = prefix + ".shared_experts"
            shared = self.dense_mlp(flat, sp)
            if cfg.moe_shared_expert_gate:
                shared = shared * torch.sigmoid(F.linear(flat, self.p(sp + ".gate_weight")))
            out = out + shared
        return out.view(b, s, h)

    def forward(self, tokens):
        cfg = self.cfg
        self.aux_losses = []
        x = F.embedding(tokens, self.p("embedding.word_embeddings.weight"))
        s = tokens.shape[1]
        if cfg.multi_latent_attention:
            tables = self.mla_tables(s, x.dtype)
        else:
            tables = self.tables(s, x.dtype)
        for i in range(cfg.num_layers):
            p = f"decoder.layers.{i}"
            y = self.rms(x, p + ".input_layernorm.weight")
            if cfg.multi_latent_attention:
                x = x + self.mla_attention(y, p + ".self_attention", tables)
            else:
                x = x + self.attention(y, p + ".self_attention", *tables)
            y = self.rms(x, p + ".pre_mlp_layernorm.weight")
            x = x + (self.moe(y, p + ".mlp") if cfg.is_moe_layer(i) else self.dense_mlp(y, p + ".mlp"))
        x = self.rms(x, "decoder.final_layernorm.weight")
        out = "output_layer" if cfg.untie_embeddings_and_output_weights else "embedding.word_embeddings"
        return F.linear(x, self.w(out))

    def objective(self, tokens, labels, loss_mask):
        """Masked-mean cross-entropy plus every auxiliary loss (one micro-batch per step)."""
        loss = dense_bench.loss_fn(self(tokens), labels, loss_mask)
        return loss + sum(self.aux_losses) if self.aux_losses else loss


# ---------------------------------------------------------------------------------------------
# --check


def check_configs():
    """Small configurations covering every path the benchmarked models take."""
    base = dict(hidden_size=32, ffn_hidden_size=48, vocab_size=100, padded_vocab_size=100,
                init_std=0.2)
    mixtral = dict(num_layers=2, num_attention_heads=4, num_query_groups=2, kv_channels=8,
                   rotary_base=1e6, num_experts=4, moe_ffn_hidden_size=16, moe_router_topk=2,
                   moe_router_load_balancing_type="aux_loss", moe_aux_loss_coeff=1e-2,
                   moe_z_loss_coeff=1e-3)
    # YaRN with mscale != mscale_all_dim (so the rope factor m_c != 1), one dense layer first,
    # pre-softmax top-2 of 8 scaled by 1.5, shared experts, seq_aux_loss.
    deepseek = dict(num_layers=3, num_attention_heads=2, num_query_groups=2, kv_channels=16,
                    norm_epsilon=1e-6, qk_layernorm=True, multi_latent_attention=True,
                    kv_lora_rank=16, qk_head_dim=16, qk_pos_emb_head_dim=8, v_head_dim=16,
                    rope_type="yarn", rotary_scaling_factor=40.0, mscale=1.0, mscale_all_dim=0.8,
                    num_experts=8, moe_layer_freq=[0, 1, 1], moe_ffn_hidden_size=16,
                    moe_router_topk=2, moe_router_pre_softmax=True,
                    moe_router_topk_scaling_factor=1.5, moe_shared_expert_intermediate_size=32,
                    moe_router_load_balancing_type="seq_aux_loss", moe_aux_loss_coeff=1e-2)
    dense_keys = ("num_experts", "moe_layer_freq", "moe_ffn_hidden_size", "moe_router_topk",
                  "moe_router_pre_softmax", "moe_router_topk_scaling_factor",
                  "moe_shared_expert_intermediate_size", "moe_router_load_balancing_type",
                  "moe_aux_loss_coeff", "moe_z_loss_coeff")

    def twin(c):
        return {key: v for key, v in c.items() if key not in dense_keys}

    return [("mixtral", {**base, **mixtral}), ("deepseek", {**base, **deepseek}),
            ("mixtral dense twin", {**base, **twin(mixtral)}),
            ("deepseek dense twin", {**base, **twin(deepseek)})]


def check():
    """float64 objective and gradients against decoder_reference on small configurations."""
    ok = True
    for label, kw in check_configs():
        init_std = kw.pop("init_std")
        cfg = dref.DecoderConfig(**kw)
        model = MoeDecoder(cfg, dtype=torch.float64, init_std=init_std)
        gen = torch.Generator().manual_seed(7)
        b, s = 3, 16
        tokens = torch.randint(0, cfg.vocab_size, (b, s), generator=gen)
        labels = torch.randint(0, cfg.vocab_size, (b, s), generator=gen)
        mask = (torch.rand(b, s, generator=gen) > 0.2).double()
        loss = model.objective(tokens, labels, mask)
        loss.backward()
        weights = {name: model.p(name).detach().numpy() for name in model.names}
        want, report = dref.loss_and_grads(cfg, weights, tokens.numpy(), labels.numpy(), mask.numpy())
        worst = abs(float(loss) - float(want["loss"])) / abs(float(want["loss"]))
        worst_name = "loss"
        for name in model.names:
            g = model.p(name).grad
            g = torch.zeros_like(model.p(name)) if g is None else g  # expert without tokens
            w = want["grad." + name]
            err = float((g - w).norm() / w.norm()) if float(w.norm()) > 0 else float(g.norm())
            if err > worst:
                worst, worst_name = err, name
        aux = len(model.aux_losses)
        case_ok = worst < 1e-10
        ok = ok and case_ok
        print(f"check {label} vs decoder_reference (float64, {len(model.names)} tensors, "
              f"{aux} auxiliary losses): worst relative error {worst:.2e} ({worst_name}) "
              f"{'ok' if case_ok else 'MISMATCH'}", file=sys.stderr)
    return ok


# ---------------------------------------------------------------------------------------------
# Timing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="resolved configuration (`primus config show` output)")
    ap.add_argument("--vocab", type=int, default=32000, help="padded vocabulary size")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=13, help="steps in all, warm-up included")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dense-ffn", type=int, help="dense twin: every MLP dense with this width")
    ap.add_argument("--describe", action="store_true",
                    help="print FLOPs per token and parameter count, no training")
    ap.add_argument("--check", action="store_true", help="only compare with decoder_reference")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        sys.exit(0 if check() else 1)
    if not a.config:
        ap.error("--config is required (or --check)")
    if a.steps <= a.warmup:
        ap.error("--steps must exceed --warmup")

    resolved = read_resolved(a.config)
    cfg = config_from_resolved(resolved, a.vocab, a.config, a.dense_ffn)
    fpt, parts = flops_per_token(cfg, a.seq)
    n_params = sum(math.prod(s) for s in dref.parameter_shapes(cfg).values())
    description = {"flops_per_token": fpt, "flops_parts": parts, "parameters": n_params,
                   "num_experts": cfg.num_experts, "moe_layers": sum(cfg.moe_layer_freq),
                   "ffn_hidden_size": cfg.ffn_hidden_size, "dense_twin_ffn": dense_twin_ffn(cfg)}
    if a.describe:
        print(json.dumps(description))
        return

    model = MoeDecoder(cfg, init_std=float(resolved.get("init_method_std") or 0.02))
    params = [model.p(n) for n in model.names]
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() == 1]
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
        loss = model.objective(tokens, labels, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
        del loss
    measured = times[a.warmup:]
    med = statistics.median(measured)
    print(json.dumps({
        **description,
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
