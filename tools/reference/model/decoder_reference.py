"""PyTorch reference of Megatron-Core's GPTModel with the MoE, MLA and MTP blocks, used to produce
the engine's MoE/MLA/MTP fidelity fixtures (run with /usr/bin/python3: torch 1.13, numpy 1.24).

Extends llama_reference.py (whose dense Llama block, norms, rotary embedding, GQA attention,
bf16 emulation and loss it reuses unchanged) with:
  - MoE MLP blocks (router, load-balancing losses, capacity, experts, shared experts), chosen per
    layer by moe_layer_freq;
  - Multi-Latent Attention (DeepSeek V2/V3) with decoupled RoPE, plain or YaRN;
  - Multi-Token Prediction (DeepSeek V3);
  - Megatron's training objective with all of them: per micro-batch the masked-mean LM loss, the
    auxiliary losses and the MTP losses, each divided by the number of micro-batches, and the
    aux-loss-free expert-bias update once per step.
Written from Megatron-Core's semantics (read, not copied; README.md lists the source lines) and
the DeepSeek-V2/V3 and Qwen3 papers; never from the C++ engine. Autograd gives every gradient.

Token order. Tensors here are batch-first [b, s, ...]. Megatron's MoE layer flattens
hidden states [s, b, h] to tokens t = position * b + sample ("Megatron order"); the router works
in that order because the `position` drop policy and the seq_aux_loss reshape depend on it. The
fixtures store per-token routing results batch-first (row = sample * s + position).

Router (per micro-batch, T = s * b tokens, E experts, k = moe_router_topk):
  logits = x @ W_r^T (float64 here, fp32 in Megatron with moe_router_dtype fp32)
  z_loss = moe_z_loss_coeff * mean_t(logsumexp_e(logits)^2)
  selection values v and the probabilities of the k selected experts:
    softmax, pre_softmax False: v = logits; probs = softmax over the k selected logits
    softmax, pre_softmax True:  v = softmax(logits) over all E; probs = v at the selected
    sigmoid: s = sigmoid(logits); v = s + expert_bias (when enabled) else s;
             probs = s at the selected / (sum of those + 1e-20) when k > 1 (unbiased s)
  top-k: the k largest v in descending order (torch.topk, sorted); group-limited (num_groups
    g, group_topk gk): group score = sum of the k/gk largest v in each of g equal consecutive
    groups, keep the gk best groups, top-k over their experts only.
  probs *= moe_router_topk_scaling_factor when set.
  capacity (moe_expert_capacity_factor cf): cap = ceil((T * k / E) * cf) in double precision;
    when cap <= T, each expert keeps cap of its (token, expert) pairs: the largest probs
    (`probs`) or the earliest tokens in Megatron order (`position`); pad_to_capacity makes each
    expert process exactly cap rows (padding rows have probability 0).
  routed output = sum_e  linear_fc2_e( act(linear_fc1_e(x)) * p[t, e] ), p = the kept probs
    (0 for unselected/dropped pairs); shared experts add MLP_shared(x) * sigmoid(x @ w_g^T).
  load-balancing losses use separate scores: softmax over all E (softmax) or sigmoid normalised
    over all E (sigmoid), and their own plain top-k map (no bias, no groups, no capacity):
    P_e = sum_t score[t, e], c_e = number of tokens whose plain top-k contains e,
    aux_loss        = coeff * E / (k * T^2) * sum_e P_e * c_e
    seq_aux_loss    = mean over the b sequences of the same formula with T = s and P, c summed
                      over that sequence's positions (all positions; the loss mask is not used)
    global_aux_loss = aux_loss with c replaced by the running mean of c over the micro-batches
                      of the step processed so far (micro-batch m uses (c_1 + ... + c_m) / m)
  expert bias (aux-loss-free): per step, C_e = routed pairs after capacity (padding included)
    summed over the step's micro-batches; after the step bias_e += rate * sign(mean(C) - C_e).

MLA (n heads, d_nope = qk_head_dim, d_rope = qk_pos_emb_head_dim, d_v = v_head_dim):
  q = linear_q_proj(x), or linear_q_up_proj(q_layernorm(linear_q_down_proj(x))) with q-LoRA
  [c_kv | k_rope] = linear_kv_down_proj(x); c_kv = kv_layernorm(c_kv)
  [k_nope | v] per head = linear_kv_up_proj(c_kv); q per head = [q_nope | q_rope]
  q_rope, k_rope (shared by the heads) rotated: the d_rope channels are first de-interleaved
  ([x0, x2, ..., x1, x3, ...]), then rotate-half RoPE with cos/sin multiplied by the YaRN
  concentration factor m_c; key = [k_nope | k_rope], causal softmax(q.k * scale) v.
  q_layernorm/kv_layernorm exist only with qk_layernorm (identity otherwise).
  scale = m(f, mscale_all_dim)^2 / sqrt(d_nope + d_rope), m(f, a) = 0.1 * a * ln f + 1 if f > 1
  else 1, f = rotary_scaling_factor (for both rope types);
  rope: inv_freq_i = base^(-2i/d), m_c = 1;
  yarn: extra_i = base^(-2i/d), inter_i = extra_i / f, ramp_i = clamp((i - low)/(high - low), 0, 1)
    with low = max(floor(D(beta_fast)), 0), high = min(ceil(D(beta_slow)), d - 1),
    D(r) = d * ln(L0 / (2 pi r)) / (2 ln base), high += 0.001 if low == high;
    inv_freq_i = inter_i * ramp_i + extra_i * (1 - ramp_i); m_c = m(f, mscale) / m(f, mscale_all_dim).

MTP (D = mtp_num_layers, depth k = 1..D, layer j = k - 1):
  ids_k = ids_{k-1} shifted left by one, last position 0 (ids_0 = tokens);
  h_k = final_layernorm_j(layer_j(eh_proj_j([enorm_j(embed(ids_k)) ; hnorm_j(h_{k-1})])))
  with h_0 the decoder output after decoder.final_layernorm; layer_j has the decoder's last layer
  kind (MoE if that is) and the same positions 0..s-1. logits_k = output_layer(h_k) (shared
  output weight); labels and loss_mask shifted left k times (zero-filled);
  CE_k = sum(mask_k * ce_k), N_k = sum(mask_k); contribution (mtp_loss_scaling_factor / D) *
  CE_k / max(N_k, 1) per micro-batch.

Objective of one step over M micro-batches (what the gradients are of):
  sum_m (1/M) * [ sum(ce*mask)/sum(mask) + sum over MoE layers (incl. MTP's) of the aux and
                  z losses + sum_k (f/D) CE_k / max(N_k, 1) ]
Megatron attaches the aux and z losses through MoEAuxLossAutoScaler and the MTP losses through
MTPLossAutoScaler with backward scale 1/M; adding them to the loss gives the same gradients.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import List, Optional, Union

import torch

import llama_reference as ref
from llama_reference import ModelConfig, round_bf16

LOAD_BALANCING_TYPES = ("aux_loss", "seq_aux_loss", "global_aux_loss")
# Megatron's log key for each load-balancing type (moe/router.py).
LOG_NAMES = {"aux_loss": "load_balancing_loss", "seq_aux_loss": "seq_load_balancing_loss",
             "global_aux_loss": "global_load_balancing_loss"}


@dataclass
class DecoderConfig(ModelConfig):
    # MoE (None: dense model)
    num_experts: Optional[int] = None
    moe_layer_freq: Optional[List[int]] = None  # explicit 0/1 per layer; None = every layer MoE
    moe_ffn_hidden_size: Optional[int] = None
    moe_router_topk: int = 2
    moe_router_score_function: str = "softmax"
    moe_router_pre_softmax: bool = False
    moe_router_num_groups: Optional[int] = None
    moe_router_group_topk: Optional[int] = None
    moe_router_topk_scaling_factor: Optional[float] = None
    moe_router_enable_expert_bias: bool = False
    moe_router_bias_update_rate: float = 1e-3
    moe_router_load_balancing_type: Union[str, List[str]] = "aux_loss"
    moe_aux_loss_coeff: Union[float, List[float]] = 0.0
    moe_z_loss_coeff: Optional[float] = None
    moe_expert_capacity_factor: Optional[float] = None
    moe_token_drop_policy: str = "probs"
    moe_pad_expert_input_to_capacity: bool = False
    moe_shared_expert_intermediate_size: Optional[int] = None
    moe_shared_expert_gate: bool = False
    moe_router_dtype: Optional[str] = "fp32"
    # MLA
    multi_latent_attention: bool = False
    q_lora_rank: Optional[int] = None
    kv_lora_rank: int = 32
    qk_head_dim: int = 128
    qk_pos_emb_head_dim: int = 64
    v_head_dim: int = 128
    rope_type: Optional[str] = None  # None: yarn for MLA (MLATransformerConfig's default)
    rotary_scaling_factor: float = 1.0
    original_max_position_embeddings: int = 4096
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float = 1.0
    mscale_all_dim: float = 0.0
    # MTP
    mtp_num_layers: Optional[int] = None
    mtp_loss_scaling_factor: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if self.num_experts is not None:
            E, k = self.num_experts, self.moe_router_topk
            if not 1 <= k <= E:
                raise ValueError("moe_router_topk must be in [1, num_experts]")
            if self.moe_layer_freq is None:
                self.moe_layer_freq = [1] * self.num_layers
            if len(self.moe_layer_freq) != self.num_layers:
                raise ValueError("moe_layer_freq needs one entry per layer")
            if self.moe_ffn_hidden_size is None:
                self.moe_ffn_hidden_size = self.ffn_hidden_size
            if self.moe_router_score_function not in ("softmax", "sigmoid"):
                raise ValueError(f"moe_router_score_function {self.moe_router_score_function!r}")
            if self.moe_router_enable_expert_bias and self.moe_router_score_function != "sigmoid":
                raise ValueError("expert bias needs the sigmoid score function")
            if (self.moe_router_num_groups is None) != (self.moe_router_group_topk is None):
                raise ValueError("moe_router_num_groups and moe_router_group_topk go together")
            if self.moe_router_num_groups:
                g, gk = self.moe_router_num_groups, self.moe_router_group_topk
                if E % g or k % gk or gk > g or k // gk > E // g:
                    raise ValueError("group-limited routing does not fit the experts")
            for t in self.load_balancing_types:
                if t not in LOAD_BALANCING_TYPES + ("none",):
                    raise ValueError(f"load balancing type {t!r} not modelled")
            if self.moe_token_drop_policy not in ("probs", "position"):
                raise ValueError(f"moe_token_drop_policy {self.moe_token_drop_policy!r}")
            if self.add_bias_linear:
                raise ValueError("the MoE reference has no linear biases")
        else:
            self.moe_layer_freq = [0] * self.num_layers
        if self.multi_latent_attention:
            if self.rope_type is None:
                self.rope_type = "yarn"
            if self.rope_type not in ("rope", "yarn"):
                raise ValueError(f"rope_type {self.rope_type!r}")
            if self.qk_pos_emb_head_dim % 2:
                raise ValueError("qk_pos_emb_head_dim must be even")
        if self.mtp_num_layers is not None and self.mtp_num_layers < 1:
            raise ValueError("mtp_num_layers must be >= 1")

    @property
    def load_balancing_types(self):
        t = self.moe_router_load_balancing_type
        return [t] if isinstance(t, str) else list(t)

    def aux_loss_coeff(self, kind):
        """Megatron's TopKRouter.get_aux_loss_coeff: the coefficient paired with `kind`, or 0."""
        t, c = self.moe_router_load_balancing_type, self.moe_aux_loss_coeff
        if isinstance(t, str):
            return float(c if not isinstance(c, list) else c[0]) if t == kind else 0.0
        if kind in t:
            return float(c[t.index(kind)])
        return 0.0

    def is_moe_layer(self, i):
        return bool(self.moe_layer_freq[i])

    @property
    def mtp_layer_is_moe(self):
        return bool(self.mtp_num_layers) and self.num_experts is not None and bool(self.moe_layer_freq[-1])


# ---------------------------------------------------------------------------------------------
# Parameter names


def layer_parameter_shapes(cfg, p, moe, out, norm):
    """Parameters of one transformer layer with prefix p ("decoder.layers.3." etc.)."""
    h = cfg.hidden_size
    norm(p + "input_layernorm", h)
    a = p + "self_attention."
    if cfg.multi_latent_attention:
        n, dq = cfg.num_attention_heads, cfg.qk_head_dim + cfg.qk_pos_emb_head_dim
        if cfg.q_lora_rank is None:
            out[a + "linear_q_proj.weight"] = (n * dq, h)
        else:
            out[a + "linear_q_down_proj.weight"] = (cfg.q_lora_rank, h)
            if cfg.qk_layernorm:
                norm(a + "q_layernorm", cfg.q_lora_rank)
            out[a + "linear_q_up_proj.weight"] = (n * dq, cfg.q_lora_rank)
        out[a + "linear_kv_down_proj.weight"] = (cfg.kv_lora_rank + cfg.qk_pos_emb_head_dim, h)
        if cfg.qk_layernorm:
            norm(a + "kv_layernorm", cfg.kv_lora_rank)
        out[a + "linear_kv_up_proj.weight"] = (n * (cfg.qk_head_dim + cfg.v_head_dim), cfg.kv_lora_rank)
        out[a + "linear_proj.weight"] = (h, n * cfg.v_head_dim)
    else:
        n, g, d = cfg.num_attention_heads, cfg.num_query_groups, cfg.kv_channels
        out[a + "linear_qkv.weight"] = ((n + 2 * g) * d, h)
        if cfg.add_bias_linear or cfg.add_qkv_bias:
            out[a + "linear_qkv.bias"] = ((n + 2 * g) * d,)
        if cfg.qk_layernorm:
            norm(a + "q_layernorm", d)
            norm(a + "k_layernorm", d)
        out[a + "linear_proj.weight"] = (h, n * d)
        if cfg.add_bias_linear:
            out[a + "linear_proj.bias"] = (h,)
    norm(p + "pre_mlp_layernorm", h)

    def mlp(prefix, ffn, bias):
        fc1 = 2 * ffn if cfg.swiglu else ffn
        out[prefix + "linear_fc1.weight"] = (fc1, h)
        if bias:
            out[prefix + "linear_fc1.bias"] = (fc1,)
        out[prefix + "linear_fc2.weight"] = (h, ffn)
        if bias:
            out[prefix + "linear_fc2.bias"] = (h,)

    if not moe:
        mlp(p + "mlp.", cfg.ffn_hidden_size, cfg.add_bias_linear)
        return
    out[p + "mlp.router.weight"] = (cfg.num_experts, h)
    for e in range(cfg.num_experts):
        mlp(f"{p}mlp.experts.local_experts.{e}.", cfg.moe_ffn_hidden_size, False)
    if cfg.moe_shared_expert_intermediate_size:
        mlp(p + "mlp.shared_experts.", cfg.moe_shared_expert_intermediate_size, False)
        if cfg.moe_shared_expert_gate:
            out[p + "mlp.shared_experts.gate_weight"] = (1, h)


def parameter_shapes(cfg):
    """Megatron-Core (local spec) names and shapes of every parameter, in module order."""
    h = cfg.hidden_size
    layer_norm = cfg.normalization == "LayerNorm"
    out = OrderedDict()

    def norm(prefix, width):
        out[prefix + ".weight"] = (width,)
        if layer_norm:
            out[prefix + ".bias"] = (width,)

    out["embedding.word_embeddings.weight"] = (cfg.padded_vocab_size, h)
    for i in range(cfg.num_layers):
        layer_parameter_shapes(cfg, f"decoder.layers.{i}.", cfg.is_moe_layer(i), out, norm)
    norm("decoder.final_layernorm", h)
    for j in range(cfg.mtp_num_layers or 0):
        p = f"mtp.layers.{j}."
        norm(p + "enorm", h)
        norm(p + "hnorm", h)
        out[p + "eh_proj.weight"] = (h, 2 * h)
        layer_parameter_shapes(cfg, p + "transformer_layer.", cfg.mtp_layer_is_moe, out, norm)
        norm(p + "final_layernorm", h)
    if cfg.untie_embeddings_and_output_weights:
        out["output_layer.weight"] = (cfg.padded_vocab_size, h)
    return out


def moe_layer_prefixes(cfg):
    """The `...mlp` prefix of every MoE layer, decoder first, then MTP."""
    out = [f"decoder.layers.{i}.mlp" for i in range(cfg.num_layers) if cfg.is_moe_layer(i)]
    if cfg.mtp_layer_is_moe:
        out += [f"mtp.layers.{j}.transformer_layer.mlp" for j in range(cfg.mtp_num_layers or 0)]
    return out


def buffer_shapes(cfg):
    """Non-parameter state stored with the weights: the routers' expert_bias (F32, [E])."""
    if not cfg.moe_router_enable_expert_bias:
        return OrderedDict()
    return OrderedDict((p + ".router.expert_bias", (cfg.num_experts,)) for p in moe_layer_prefixes(cfg))


no_weight_decay = ref.no_weight_decay


# ---------------------------------------------------------------------------------------------
# bf16 emulation of the router GEMM


class _Bf16RouterMatmul(torch.autograd.Function):
    """Router logits with moe_router_dtype fp32 in a bf16 model: the operands are bf16 values
    (activation and bf16 parameter), the product and its output gradient stay in fp32, so the
    backward GEMMs use the unrounded output gradient: dx = dy @ bf16(w), dw = dy^T @ bf16(x)."""

    @staticmethod
    def forward(ctx, x, w):
        xb, wb = round_bf16(x), round_bf16(w)
        ctx.save_for_backward(xb, wb)
        return xb @ wb.t()

    @staticmethod
    def backward(ctx, dy):
        xb, wb = ctx.saved_tensors
        return dy @ wb, dy.t() @ xb


# ---------------------------------------------------------------------------------------------
# Routing helpers


def _relative_gap(hi, lo, scale):
    """(hi - lo) / max(|hi|, |lo|, scale): how far apart two decision values are."""
    denom = torch.maximum(torch.maximum(hi.abs(), lo.abs()), scale)
    return (hi - lo) / denom


def topk_margin(values, k):
    """Smallest relative gap, over rows, between the k-th and (k+1)-th largest finite value of
    each row ([rows, n]); inf when no row has a (k+1)-th candidate."""
    finite = torch.isfinite(values)
    sorted_vals = values.sort(dim=-1, descending=True).values
    count = finite.sum(-1)
    rows = count > k
    if not rows.any():
        return math.inf
    v = sorted_vals[rows]
    fin = torch.where(torch.isfinite(v), v, torch.zeros_like(v))
    scale = fin.pow(2).sum(-1).div(finite[rows].sum(-1)).sqrt()
    return float(_relative_gap(v[:, k - 1], v[:, k], scale).min())


def yarn_get_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def yarn_correction_range(cfg, dim):
    def correction_dim(rotations):
        return dim * math.log(cfg.original_max_position_embeddings / (rotations * 2 * math.pi)) / (
            2 * math.log(cfg.rotary_base))
    low = max(math.floor(correction_dim(cfg.beta_fast)), 0)
    high = min(math.ceil(correction_dim(cfg.beta_slow)), dim - 1)
    return low, high


def mla_inv_freq(cfg, dtype):
    """Rotary frequencies of MLA's positional part (qk_pos_emb_head_dim channels)."""
    d = cfg.qk_pos_emb_head_dim
    if cfg.rope_type == "rope":
        rot = int(d * cfg.rotary_percent)
        return 1.0 / (float(cfg.rotary_base) ** (torch.arange(0, rot, 2, dtype=dtype) / rot))
    extra = 1.0 / (float(cfg.rotary_base) ** (torch.arange(0, d, 2, dtype=dtype) / d))
    inter = extra / cfg.rotary_scaling_factor
    low, high = yarn_correction_range(cfg, d)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(d // 2, dtype=dtype) - low) / (high - low)).clamp(0, 1)
    return inter * ramp + extra * (1 - ramp)


def mla_rope_scale(cfg):
    """The factor on cos and sin (YaRN's concentration factor; 1 for plain rope)."""
    if cfg.rope_type == "rope":
        return 1.0
    f = cfg.rotary_scaling_factor
    return yarn_get_mscale(f, cfg.mscale) / yarn_get_mscale(f, cfg.mscale_all_dim)


def mla_softmax_scale(cfg):
    m = yarn_get_mscale(cfg.rotary_scaling_factor, cfg.mscale_all_dim)
    return m * m / math.sqrt(cfg.qk_head_dim + cfg.qk_pos_emb_head_dim)


# ---------------------------------------------------------------------------------------------
# State carried across the micro-batches of a step


@dataclass
class StepState:
    """Expert biases (persist across steps) and the per-step accumulators Megatron resets in
    finalize_model_grads: routed-token counts for the bias update and the global-aux-loss
    running counts."""
    expert_bias: dict = field(default_factory=dict)
    bias_counts: dict = field(default_factory=dict)
    global_counts: dict = field(default_factory=dict)
    global_steps: dict = field(default_factory=dict)

    def start_step(self):
        self.bias_counts = {}
        self.global_counts = {}
        self.global_steps = {}

    def update_expert_bias(self, rate):
        """bias += rate * sign(mean(C) - C) per router (Megatron's get_updated_expert_bias)."""
        for name, bias in self.expert_bias.items():
            c = self.bias_counts[name].to(bias.dtype)
            bias += rate * torch.sign(c.mean() - c)


# ---------------------------------------------------------------------------------------------
# Model


class DecoderReference(ref.LlamaReference):
    """Forward pass of one micro-batch over a dict of parameter tensors."""

    def __init__(self, cfg, params, state=None):
        super().__init__(cfg, params)
        self.state = state if state is not None else StepState()
        self.records = OrderedDict()  # per MoE layer: routing results of the last forward

    # -- attention ----------------------------------------------------------------------------

    def mla_rope(self, x):
        """x [b, s, heads, d_rope]: de-interleave, then rotate-half RoPE scaled by m_c."""
        cfg = self.cfg
        s = x.shape[1]
        inv = mla_inv_freq(cfg, x.dtype)
        rot = 2 * inv.shape[0]
        angles = torch.arange(s, dtype=x.dtype)[:, None] * inv[None, :]
        m = mla_rope_scale(cfg)
        cos = (torch.cat([angles.cos(), angles.cos()], -1) * m)[None, :, None, :]
        sin = (torch.cat([angles.sin(), angles.sin()], -1) * m)[None, :, None, :]
        xr, xpass = x[..., :rot], x[..., rot:]
        xr = torch.cat([xr[..., 0::2], xr[..., 1::2]], -1)
        x1, x2 = xr[..., : rot // 2], xr[..., rot // 2:]
        rotated = torch.cat([-x2, x1], -1)
        return torch.cat([xr * cos + rotated * sin, xpass], -1)

    def mla_attention(self, x, prefix):
        cfg = self.cfg
        b, s, _ = x.shape
        n, dn, dr, dv = cfg.num_attention_heads, cfg.qk_head_dim, cfg.qk_pos_emb_head_dim, cfg.v_head_dim
        if cfg.q_lora_rank is None:
            q = self.linear(x, prefix + ".linear_q_proj")
        else:
            cq = self.linear(x, prefix + ".linear_q_down_proj")
            if cfg.qk_layernorm:
                cq = self.norm(cq, prefix + ".q_layernorm")
            q = self.linear(cq, prefix + ".linear_q_up_proj")
        kv = self.linear(x, prefix + ".linear_kv_down_proj")
        ckv, k_rope = kv[..., :cfg.kv_lora_rank], kv[..., cfg.kv_lora_rank:]
        if cfg.qk_layernorm:
            ckv = self.norm(ckv, prefix + ".kv_layernorm")
        kv_up = self.linear(ckv, prefix + ".linear_kv_up_proj").view(b, s, n, dn + dv)
        k_nope, v = kv_up[..., :dn], kv_up[..., dn:]
        q = q.view(b, s, n, dn + dr)
        q_nope, q_rope = q[..., :dn], q[..., dn:]
        q_rope = self.mla_rope(q_rope)
        k_rope = self.mla_rope(k_rope.view(b, s, 1, dr)).expand(b, s, n, dr)
        query = torch.cat([q_nope, q_rope], -1)
        key = torch.cat([k_nope, k_rope], -1)
        scores = torch.einsum("bqhd,bkhd->bhqk", query, key) * mla_softmax_scale(cfg)
        future = torch.ones(s, s, dtype=torch.bool).triu(1)
        probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, s, n * dv)
        return self.linear(out, prefix + ".linear_proj")

    # -- MoE ----------------------------------------------------------------------------------

    def router_logits(self, x, prefix):
        w = self.p[prefix + ".weight"]
        return _Bf16RouterMatmul.apply(x, w) if self.cfg.bf16 else x @ w.t()

    def select_topk(self, v):
        """Top-k indices of the selection values v [T, E] (group-limited when configured) in
        descending order, and the decision margins."""
        cfg = self.cfg
        T, E = v.shape
        k = cfg.moe_router_topk
        margins = {}
        if cfg.moe_router_num_groups:
            g, gk = cfg.moe_router_num_groups, cfg.moe_router_group_topk
            group_scores = v.view(T, g, E // g).topk(k // gk, dim=-1).values.sum(-1)
            group_idx = group_scores.topk(gk, dim=-1).indices
            group_mask = torch.zeros(T, g, dtype=torch.bool).scatter(1, group_idx, True)
            expert_mask = group_mask.repeat_interleave(E // g, dim=1)
            v = v.masked_fill(~expert_mask, float("-inf"))
            margins["group"] = topk_margin(group_scores, gk)
        margins["topk"] = topk_margin(v, k)
        return v.topk(k, dim=-1).indices, margins

    def route(self, x, prefix, b):
        """x [T, h] in Megatron token order. Returns the combine weights [T, E] (probability of
        each kept (token, expert) pair, 0 elsewhere) and the loss terms; fills self.records."""
        cfg, st = self.cfg, self.state
        E, k = cfg.num_experts, cfg.moe_router_topk
        T = x.shape[0]
        logits = self.router_logits(x, prefix + ".router")
        rec = OrderedDict(losses=OrderedDict(), margins={})
        if cfg.moe_z_loss_coeff is not None:
            rec["losses"]["z_loss"] = cfg.moe_z_loss_coeff * torch.logsumexp(logits, -1).pow(2).mean()

        bias = st.expert_bias.get(prefix + ".router.expert_bias")
        if cfg.moe_router_score_function == "softmax":
            scores = torch.softmax(logits, -1) if cfg.moe_router_pre_softmax else None
            sel = scores if cfg.moe_router_pre_softmax else logits
        else:
            scores = torch.sigmoid(logits)
            sel = scores + bias if bias is not None else scores
        idx, margins = self.select_topk(sel.detach())
        rec["margins"].update(margins)
        if cfg.moe_router_score_function == "softmax":
            probs = scores.gather(1, idx) if cfg.moe_router_pre_softmax else torch.softmax(logits.gather(1, idx), -1)
        else:
            probs = scores.gather(1, idx)
            if k > 1:
                probs = probs / (probs.sum(-1, keepdim=True) + 1e-20)
        if cfg.moe_router_topk_scaling_factor:
            probs = probs * cfg.moe_router_topk_scaling_factor
        routing_map = torch.zeros(T, E, dtype=torch.bool).scatter(1, idx, True)
        routing_probs = torch.zeros(T, E, dtype=logits.dtype).scatter(1, idx, probs)

        final_map = routing_map
        if cfg.moe_expert_capacity_factor is not None:
            cap = math.ceil((T * k / E) * cfg.moe_expert_capacity_factor)
            rec["capacity"] = cap
            if cap > T:
                capacity_mask = torch.ones(T, E, dtype=torch.bool)
            else:
                capacity_mask = self.capacity_mask(routing_probs.detach(), routing_map, cap, rec)
            final_map = capacity_mask if cfg.moe_pad_expert_input_to_capacity else routing_map & capacity_mask
        weights = routing_probs * final_map

        if cfg.moe_router_enable_expert_bias:
            name = prefix + ".router.expert_bias"
            st.bias_counts[name] = st.bias_counts.get(name, 0) + final_map.sum(0)

        self.load_balancing_losses(logits, prefix, b, rec)
        rec["idx"], rec["probs"] = idx, probs.detach()
        rec["kept"] = final_map.gather(1, idx)
        rec["tokens_per_expert"] = final_map.sum(0)
        self.records[prefix] = rec
        return weights, rec["losses"]

    def capacity_mask(self, routing_probs, routing_map, cap, rec):
        """[T, E] mask of the cap rows each expert keeps (cap <= T)."""
        T, E = routing_map.shape
        if self.cfg.moe_token_drop_policy == "probs":
            top = routing_probs.topk(cap, dim=0).indices
            mask = torch.zeros(T, E, dtype=torch.bool).scatter(0, top, True)
            over = routing_map.sum(0) > cap
            if over.any():
                rec["margins"]["capacity"] = topk_margin(routing_probs.t()[over], cap)
            return mask
        # position: the earliest routed tokens in Megatron order, then (padding only) the
        # earliest unrouted ones; a stable sort on "not routed" gives exactly that order.
        order = torch.sort((~routing_map).to(torch.int8), dim=0, stable=True).indices[:cap]
        return torch.zeros(T, E, dtype=torch.bool).scatter(0, order, True)

    def load_balancing_losses(self, logits, prefix, b, rec):
        cfg, st = self.cfg, self.state
        E, k = cfg.num_experts, cfg.moe_router_topk
        kinds = [t for t in LOAD_BALANCING_TYPES if cfg.aux_loss_coeff(t) > 0]
        if not kinds:
            return
        if cfg.moe_router_score_function == "softmax":
            scores = torch.softmax(logits, -1)
        else:
            s = torch.sigmoid(logits)
            scores = s / (s.sum(-1, keepdim=True) + 1e-20)
        aux_idx = scores.detach().topk(k, dim=-1).indices
        rec["margins"]["aux_topk"] = topk_margin(scores.detach(), k)
        aux_map = torch.zeros_like(scores, dtype=torch.bool).scatter(1, aux_idx, True)
        T = scores.shape[0]
        counts = aux_map.sum(0).to(scores.dtype)

        def switch(P, c, tokens, coeff):
            return (P * c).sum() * (E * coeff / (k * tokens * tokens))

        for kind in kinds:
            coeff = cfg.aux_loss_coeff(kind)
            if kind == "aux_loss":
                loss = switch(scores.sum(0), counts, T, coeff)
            elif kind == "seq_aux_loss":
                s = T // b
                # Megatron order: row = position, so [s, b*E] puts each sequence's experts
                # in separate columns.
                sc = scores.reshape(s, b * E)
                mp = aux_map.reshape(s, b * E).to(scores.dtype)
                loss = switch(sc.sum(0), mp.sum(0), s, coeff) / b
            else:
                name = prefix
                st.global_counts[name] = st.global_counts.get(name, 0) + counts
                st.global_steps[name] = st.global_steps.get(name, 0) + 1
                loss = switch(scores.sum(0), st.global_counts[name] / st.global_steps[name], T, coeff)
            rec["losses"][kind] = loss

    def moe(self, x, prefix):
        """MoE block on x [b, s, h]."""
        cfg = self.cfg
        b, s, h = x.shape
        flat = x.transpose(0, 1).reshape(s * b, h)  # Megatron token order
        weights, losses = self.route(flat, prefix, b)
        weights = weights.view(s, b, -1).transpose(0, 1)  # back to [b, s, E]
        out = torch.zeros_like(x)
        for e in range(cfg.num_experts):
            p = f"{prefix}.experts.local_experts.{e}"
            a = self.activation(self.linear(x, p + ".linear_fc1"))
            out = out + self.linear(a * weights[..., e:e + 1], p + ".linear_fc2")
        if cfg.moe_shared_expert_intermediate_size:
            p = prefix + ".shared_experts"
            shared = self.linear(self.activation(self.linear(x, p + ".linear_fc1")), p + ".linear_fc2")
            if cfg.moe_shared_expert_gate:
                shared = shared * torch.sigmoid(self.matmul(x, self.p[p + ".gate_weight"]))
            out = out + shared
        return out, losses

    def activation(self, h):
        if self.cfg.swiglu:
            gate, up = h.chunk(2, dim=-1)
            return torch.nn.functional.silu(gate) * up
        return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))

    def matmul(self, x, w):
        """x @ w^T with the bf16 operand emulation when configured (as linear() does)."""
        return ref._Bf16Matmul.apply(x, w) if self.cfg.bf16 else x @ w.t()

    # -- layers -------------------------------------------------------------------------------

    def layer(self, x, p, moe):
        """One transformer layer; returns (output, its MoE loss terms)."""
        attn = self.mla_attention if self.cfg.multi_latent_attention else self.attention
        x = x + attn(self.norm(x, p + ".input_layernorm"), p + ".self_attention")
        y = self.norm(x, p + ".pre_mlp_layernorm")
        if not moe:
            return x + self.mlp(y, p + ".mlp"), OrderedDict()
        out, losses = self.moe(y, p + ".mlp")
        return x + out, losses

    def output_weight(self):
        return "output_layer" if self.cfg.untie_embeddings_and_output_weights else "embedding.word_embeddings"

    def forward_micro_batch(self, tokens, labels, loss_mask):
        """One micro-batch: tokens/labels [b, s] long, loss_mask [b, s]. Returns an OrderedDict
        with logits, lm_loss (masked mean), moe_losses {layer prefix: {kind: value}},
        mtp_losses [D] (CE_k / max(N_k, 1)), mtp_tokens [D] (N_k), acts {name: tensor}."""
        cfg = self.cfg
        self.records = OrderedDict()
        emb = self.p["embedding.word_embeddings.weight"]
        acts = OrderedDict()
        moe_losses = OrderedDict()
        x = emb[tokens]
        acts["embedding"] = x
        for i in range(cfg.num_layers):
            p = f"decoder.layers.{i}"
            x, losses = self.layer(x, p, cfg.is_moe_layer(i))
            if losses:
                moe_losses[p + ".mlp"] = losses
            acts[p] = x
        h = self.norm(x, "decoder.final_layernorm")
        acts["decoder.final_layernorm"] = h
        logits = self.linear(h, self.output_weight(), bias=False)
        ce = ref.token_losses(logits, labels, cfg.vocab_size)
        lm_loss = (ce * loss_mask).sum() / loss_mask.sum()

        mtp_losses, mtp_tokens = [], []
        ids, lab, mask = tokens, labels, loss_mask
        for j in range(cfg.mtp_num_layers or 0):
            p = f"mtp.layers.{j}"
            ids, lab, mask = shift_left(ids), shift_left(lab), shift_left(mask)
            e = self.norm(emb[ids], p + ".enorm")
            x = self.linear(torch.cat([e, self.norm(h, p + ".hnorm")], -1), p + ".eh_proj")
            x, losses = self.layer(x, p + ".transformer_layer", cfg.mtp_layer_is_moe)
            if losses:
                moe_losses[p + ".transformer_layer.mlp"] = losses
            h = self.norm(x, p + ".final_layernorm")
            acts[p] = h
            ce_k = ref.token_losses(self.linear(h, self.output_weight(), bias=False), lab, cfg.vocab_size)
            n_k = mask.sum()
            mtp_losses.append((ce_k * mask).sum() / torch.clamp(n_k, min=1.0))
            mtp_tokens.append(float(n_k))
        return OrderedDict(logits=logits, losses=ce, lm_loss=lm_loss, moe_losses=moe_losses,
                           mtp_losses=mtp_losses, mtp_tokens=mtp_tokens, acts=acts)


def shift_left(t):
    """Megatron's roll_tensor(shifts=-1) on the sequence dimension: left by one, last = 0."""
    out = torch.roll(t, shifts=-1, dims=-1).clone()
    out[..., -1] = 0
    return out


# ---------------------------------------------------------------------------------------------
# The objective of one step, gradients and training


def micro_batches(n_rows, micro_batch_size):
    mbs = micro_batch_size or n_rows
    if n_rows % mbs:
        raise ValueError("batch is not a whole number of micro-batches")
    return [slice(i, i + mbs) for i in range(0, n_rows, mbs)]


def step_objective(model, tokens, labels, loss_mask, micro_batch_size):
    """Runs every micro-batch of one step; returns (objective, report). The objective is the
    scalar whose gradient Megatron accumulates (see the module docstring); report has the
    pieces: lm_loss (objective's LM part), per-micro-batch values and routing records."""
    cfg = model.cfg
    model.state.start_step()
    parts = micro_batches(tokens.shape[0], micro_batch_size)
    M = len(parts)
    total = 0.0
    lm_total = 0.0
    report = OrderedDict(micro=[])
    for sl in parts:
        out = model.forward_micro_batch(tokens[sl], labels[sl], loss_mask[sl])
        term = out["lm_loss"]
        for losses in out["moe_losses"].values():
            for v in losses.values():
                term = term + v
        D = cfg.mtp_num_layers or 0
        for v in out["mtp_losses"]:
            term = term + (cfg.mtp_loss_scaling_factor / D) * v
        total = total + term / M
        lm_total = lm_total + out["lm_loss"] / M
        out["records"] = model.records
        out["ce_sum"] = float((out["losses"] * loss_mask[sl]).sum())
        out["mask_sum"] = float(loss_mask[sl].sum())
        report["micro"].append(out)
    report["lm_loss"] = lm_total
    return total, report


def make_params(cfg, weights, dtype):
    return OrderedDict((name, torch.tensor(weights[name], dtype=dtype).requires_grad_(True))
                       for name in parameter_shapes(cfg))


def make_state(cfg, weights, dtype):
    return StepState(expert_bias=OrderedDict(
        (name, torch.tensor(weights[name], dtype=dtype)) for name in buffer_shapes(cfg)))


def logged_metrics(cfg, report):
    """What Megatron's iteration line prints for the step (training.py / moe_logging.py):
    lm loss = sum of masked CE over the global batch / its mask sum; each MoE loss = over the
    micro-batches, (value / coeff) summed per layer, times 1/M, summed over the layers and
    divided by the number of MoE layers; mtp_k loss = mean over micro-batches of CE_k/N_k."""
    micro = report["micro"]
    M = len(micro)
    out = OrderedDict()
    out["lm_loss"] = sum(m["ce_sum"] for m in micro) / sum(m["mask_sum"] for m in micro)
    if cfg.num_experts is not None:
        t = cfg.moe_router_load_balancing_type
        # Megatron tests `"aux_loss" in args.moe_router_load_balancing_type`: a substring test
        # when the type is one string, so seq_aux_loss / global_aux_loss also print
        # load_balancing_loss (0: nothing recorded under that name).
        names = [LOG_NAMES[kind] for kind in LOAD_BALANCING_TYPES if kind in t]
        if cfg.moe_z_loss_coeff is not None:
            names.append("z_loss")
        n_moe = sum(cfg.moe_layer_freq) + (cfg.mtp_num_layers if cfg.mtp_layer_is_moe else 0)
        for name in names:
            total = 0.0
            for m in micro:
                for losses in m["moe_losses"].values():
                    for kind, v in losses.items():
                        if (LOG_NAMES.get(kind) == name) or (kind == name == "z_loss"):
                            coeff = cfg.moe_z_loss_coeff if kind == "z_loss" else cfg.aux_loss_coeff(kind)
                            total += float(v) / coeff
            out[name] = total / M / n_moe
    for k in range(cfg.mtp_num_layers or 0):
        out[f"mtp_{k + 1}_loss"] = sum(float(m["mtp_losses"][k]) for m in micro) / M
    return out


def loss_and_grads(cfg, weights, tokens, labels, loss_mask, dtype=torch.float64, micro_batch_size=None):
    """One forward/backward of a step from the given weights. Returns (tensors, report):
    tensors has loss (objective), lm_loss, logits, losses, act.<name>, grad.<param>; report
    is step_objective's plus `log` (logged metrics)."""
    params = make_params(cfg, weights, dtype)
    model = DecoderReference(cfg, params, make_state(cfg, weights, dtype))
    tok = torch.as_tensor(tokens, dtype=torch.long)
    lab = torch.as_tensor(labels, dtype=torch.long)
    mask = torch.as_tensor(loss_mask, dtype=dtype)
    total, report = step_objective(model, tok, lab, mask, micro_batch_size)
    total.backward()
    micro = report["micro"]
    out = OrderedDict(loss=total.detach(), lm_loss=report["lm_loss"].detach(),
                      logits=torch.cat([m["logits"].detach() for m in micro]),
                      losses=torch.cat([m["losses"].detach() for m in micro]))
    for name in micro[0]["acts"]:
        out["act." + name] = torch.cat([m["acts"][name].detach() for m in micro])
    for name, p in params.items():
        out["grad." + name] = p.grad.detach()
    report["log"] = logged_metrics(cfg, report)
    report["model"] = model
    return out, report


def train(cfg, weights, tokens, labels, loss_mask, steps, lr, weight_decay, betas, eps,
          clip_grad, dtype=torch.float64, micro_batch_size=None, observe=None):
    """`steps` AdamW steps on the same batch with the expert-bias update after each step.
    Returns (objectives, grad_norms, lm_losses, expert_biases): objectives[i] is the objective
    of step i's forward pass; expert_biases maps each bias name to a [steps + 1, E] tensor whose
    row i is the bias used by step i (row 0 = the initial value, row steps = after the last
    update). observe(step, report) is called after each step's forward/backward."""
    params = make_params(cfg, weights, dtype)
    shapes = parameter_shapes(cfg)
    decay = [p for n, p in params.items() if not no_weight_decay(n, shapes[n])]
    no_decay = [p for n, p in params.items() if no_weight_decay(n, shapes[n])]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=betas, eps=eps)
    state = make_state(cfg, weights, dtype)
    model = DecoderReference(cfg, params, state)
    tok = torch.as_tensor(tokens, dtype=torch.long)
    lab = torch.as_tensor(labels, dtype=torch.long)
    mask = torch.as_tensor(loss_mask, dtype=dtype)
    objectives, norms, lm_losses = [], [], []
    biases = OrderedDict((n, [b.clone()]) for n, b in state.expert_bias.items())
    for step in range(steps):
        opt.zero_grad(set_to_none=False)
        total, report = step_objective(model, tok, lab, mask, micro_batch_size)
        total.backward()
        if observe is not None:
            observe(step, report)
        # finalize_model_grads: expert-bias update from this step's counts (it reads no
        # parameter, and the optimizer reads no bias: the order against the step is free).
        state.update_expert_bias(cfg.moe_router_bias_update_rate)
        for n, b in state.expert_bias.items():
            biases[n].append(b.clone())
        norms.append(ref.clip_gradients(params, clip_grad))
        opt.step()
        objectives.append(float(total))
        lm_losses.append(float(report["lm_loss"]))
    return objectives, norms, lm_losses, OrderedDict((n, torch.stack(v)) for n, v in biases.items())
