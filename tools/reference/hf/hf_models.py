"""Independent float64 implementations of the Hugging Face decoder architectures the engine
imports and exports, written from the `transformers` modelling code's documented semantics
(LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, MixtralForCausalLM,
DeepseekV2ForCausalLM, DeepseekV3ForCausalLM) and their config.json keys — not from the C++
engine, and without Megatron's fused layouts: every tensor is used under its HF name and shape.

    logits(config, weights, ids) -> [s, vocab]      one sequence, positions 0..s-1
    greedy(config, weights, ids, n) -> (ids, step_logits)   full recomputation at every step

Semantics, per family (config keys in quotes):
  * Decoder: h = embed_tokens[ids]; per layer h += self_attn(input_layernorm(h));
    h += mlp(post_attention_layernorm(h)); logits = norm(h) @ lm_head^T (embed_tokens when
    "tie_word_embeddings"). RMSNorm: x / sqrt(mean(x^2) + "rms_norm_eps") * w.
  * Attention (llama, qwen2, qwen3, qwen3_moe, mixtral): q/k/v_proj (+ bias: qwen2, or
    "attention_bias"), heads of "head_dim" (default hidden/heads), qwen3*: q_norm/k_norm RMSNorm
    over each head before rotary; rotary "rotate_half" on the first head_dim channels with
    inv_freq = theta^(-2i/d), "rope_scaling" {"rope_type": "llama3"} rescales inv_freq (factor,
    low_freq_factor, high_freq_factor, original_max_position_embeddings); GQA (key/value head
    j serves query heads j*n/g..); causal softmax(q k^T / sqrt(d)) v; o_proj.
  * MLP: down_proj(silu(gate_proj(x)) * up_proj(x)) (Mixtral experts: w2(silu(w1 x) * w3 x)).
  * Mixtral / Qwen3-MoE block: router logits x W_gate^T, softmax over all experts, top-k,
    renormalised (Mixtral always; Qwen3-MoE when "norm_topk_prob"), y = sum_k w_k expert_k(x).
    Qwen3-MoE: layer i is sparse unless listed in "mlp_only_layers" or
    (i + 1) % "decoder_sparse_step" != 0.
  * DeepSeek V2/V3 attention (MLA): q = q_proj(x) or q_b_proj(q_a_layernorm(q_a_proj(x)));
    [c, k_pe] = kv_a_proj_with_mqa(x); [k_nope, v] per head = kv_b_proj(kv_a_layernorm(c));
    q and k rope parts de-interleaved (view [d/2, 2] transposed) then rotate_half with YaRN
    cos/sin ("rope_scaling" type yarn: factor, original_max_position_embeddings, beta_fast,
    beta_slow, mscale, mscale_all_dim); k_pe shared by all heads; scores scaled by
    q_head_dim^-0.5 * mscale(factor, mscale_all_dim)^2; o_proj.
  * DeepSeek MoE (layer i >= "first_k_dense_replace" and i % "moe_layer_freq" == 0):
    V2: scores = softmax(x W_gate^T); top-k ("greedy") or group-limited ("group_limited_greedy":
    groups ranked by their max score, best "topk_group" kept); weights renormalised when
    "norm_topk_prob" (top_k > 1), else multiplied by "routed_scaling_factor".
    V3: scores = sigmoid(x W_gate^T); choice = scores + e_score_correction_bias; groups ranked by
    the sum of their two best choice values, best "topk_group" kept (the others' choice values
    set to 0.0, as transformers does; DeepSeek's own inference code and Megatron set them to -inf,
    which selects the same experts whenever every choice value is positive — the fixtures keep
    them so); top-k of the choice; weights = scores at those experts, renormalised when "norm_topk_prob", times
    "routed_scaling_factor". y = sum_k w_k expert_k(x) + shared_experts(x) (an MLP of
    moe_intermediate_size * n_shared_experts). Multi-token-prediction layers (V3 checkpoints
    store them as layers num_hidden_layers..) do not take part in the logits.
"""
import math

import torch

DT = torch.float64


def _w(weights, name):
    return torch.as_tensor(weights[name], dtype=DT)


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def llama_inv_freq(cfg, dim):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=DT) / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        out = []
        for f in inv.tolist():
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:
                out.append(f)
            elif wavelen > low_wavelen:
                out.append(f / factor)
            else:
                smooth = (old / wavelen - lo) / (hi - lo)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = torch.tensor(out, dtype=DT)
    elif rs:
        raise ValueError(f"rope_scaling {rs} not modelled")
    return inv


def yarn_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def yarn_cos_sin(cfg, dim, seq):
    base = cfg.get("rope_theta", 10000.0)
    rs = cfg.get("rope_scaling")
    pos = torch.arange(seq, dtype=DT)
    if not rs:
        inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=DT) / dim))
        freqs = torch.outer(pos, inv)
        emb = torch.cat([freqs, freqs], -1)
        return emb.cos(), emb.sin()
    assert rs["type"] == "yarn"
    factor = rs["factor"]
    orig = rs["original_max_position_embeddings"]
    beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)
    mscale, mscale_all = rs.get("mscale", 1), rs.get("mscale_all_dim", 0)
    freq_extra = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=DT) / dim))
    freq_inter = 1.0 / (factor * base ** (torch.arange(0, dim, 2, dtype=DT) / dim))

    def corr_dim(n_rot):
        return (dim * math.log(orig / (n_rot * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=DT) - low) / (high - low)).clamp(0, 1)
    mask = 1.0 - ramp
    inv = freq_inter * (1 - mask) + freq_extra * mask
    freqs = torch.outer(pos, inv)
    emb = torch.cat([freqs, freqs], -1)
    m = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all)
    return emb.cos() * m, emb.sin() * m


def causal_attention(q, k, v, scale):
    # q [n, s, d], k [n, s, d], v [n, s, dv]
    s = q.shape[1]
    scores = (q @ k.transpose(1, 2)) * scale
    mask = torch.triu(torch.ones(s, s, dtype=torch.bool), 1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def gqa_attention(cfg, W, p, x):
    s, hdim = x.shape
    n, g = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = cfg.get("head_dim") or hdim // n
    bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)

    def proj(name):
        y = x @ _w(W, f"{p}{name}.weight").T
        return y + _w(W, f"{p}{name}.bias") if bias else y

    q = proj("q_proj").view(s, n, d).transpose(0, 1)
    k = proj("k_proj").view(s, g, d).transpose(0, 1)
    v = proj("v_proj").view(s, g, d).transpose(0, 1)
    if cfg["model_type"] in ("qwen3", "qwen3_moe"):
        q = rms_norm(q, _w(W, f"{p}q_norm.weight"), cfg["rms_norm_eps"])
        k = rms_norm(k, _w(W, f"{p}k_norm.weight"), cfg["rms_norm_eps"])
    inv = llama_inv_freq(cfg, d)
    freqs = torch.outer(torch.arange(s, dtype=DT), inv)
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k = k.repeat_interleave(n // g, dim=0)
    v = v.repeat_interleave(n // g, dim=0)
    a = causal_attention(q, k, v, 1.0 / math.sqrt(d))
    return a.transpose(0, 1).reshape(s, n * d) @ _w(W, f"{p}o_proj.weight").T


def mla_attention(cfg, W, p, x):
    s, _ = x.shape
    n = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    dq = dn + dr
    eps = cfg["rms_norm_eps"]
    if cfg.get("q_lora_rank") is None:
        q = x @ _w(W, f"{p}q_proj.weight").T
    else:
        qa = rms_norm(x @ _w(W, f"{p}q_a_proj.weight").T, _w(W, f"{p}q_a_layernorm.weight"), eps)
        q = qa @ _w(W, f"{p}q_b_proj.weight").T
    q = q.view(s, n, dq).transpose(0, 1)
    q_nope, q_pe = q[..., :dn], q[..., dn:]
    ckv = x @ _w(W, f"{p}kv_a_proj_with_mqa.weight").T
    c, k_pe = ckv[:, : cfg["kv_lora_rank"]], ckv[:, cfg["kv_lora_rank"]:]
    kv = rms_norm(c, _w(W, f"{p}kv_a_layernorm.weight"), eps) @ _w(W, f"{p}kv_b_proj.weight").T
    kv = kv.view(s, n, dn + dv).transpose(0, 1)
    k_nope, v = kv[..., :dn], kv[..., dn:]
    cos, sin = yarn_cos_sin(cfg, dr, s)

    def rope(t):  # de-interleave pairs, then rotate_half
        shape = t.shape
        t = t.reshape(*shape[:-1], dr // 2, 2).transpose(-1, -2).reshape(shape)
        return t * cos + rotate_half(t) * sin

    q_pe = rope(q_pe)
    k_pe = rope(k_pe.view(1, s, dr)).expand(n, s, dr)
    query = torch.cat([q_nope, q_pe], -1)
    key = torch.cat([k_nope, k_pe], -1)
    scale = dq ** -0.5
    rs = cfg.get("rope_scaling")
    if rs:
        m = yarn_mscale(rs["factor"], rs.get("mscale_all_dim", 0))
        scale = scale * m * m
    a = causal_attention(query, key, v, scale)
    return a.transpose(0, 1).reshape(s, n * dv) @ _w(W, f"{p}o_proj.weight").T


def swiglu_mlp(W, p, x, gate="gate_proj", up="up_proj", down="down_proj"):
    a = torch.nn.functional.silu(x @ _w(W, f"{p}{gate}.weight").T) * (x @ _w(W, f"{p}{up}.weight").T)
    return a @ _w(W, f"{p}{down}.weight").T


def topk_rows(scores, k):
    # Deterministic top-k (ties to the lower index), as torch.topk on distinct values.
    vals, idx = torch.topk(scores, k, dim=-1)
    return vals, idx


def moe_block(cfg, W, p, x, layer):
    mt = cfg["model_type"]
    if mt == "mixtral":
        E, k = cfg["num_local_experts"], cfg["num_experts_per_tok"]
        logits = x @ _w(W, f"{p}block_sparse_moe.gate.weight").T
        probs = torch.softmax(logits, -1)
        w, idx = topk_rows(probs, k)
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for t in range(x.shape[0]):
            for j in range(k):
                e = int(idx[t, j])
                out[t] += w[t, j] * swiglu_mlp(W, f"{p}block_sparse_moe.experts.{e}.", x[t:t + 1], "w1", "w3", "w2")[0]
        return out
    if mt == "qwen3_moe":
        k = cfg["num_experts_per_tok"]
        probs = torch.softmax(x @ _w(W, f"{p}mlp.gate.weight").T, -1)
        w, idx = topk_rows(probs, k)
        if cfg.get("norm_topk_prob", False):
            w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for t in range(x.shape[0]):
            for j in range(k):
                out[t] += w[t, j] * swiglu_mlp(W, f"{p}mlp.experts.{int(idx[t, j])}.", x[t:t + 1])[0]
        return out
    # DeepSeek V2 / V3
    E, k = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    logits = x @ _w(W, f"{p}mlp.gate.weight").T
    n_group, topk_group = cfg.get("n_group", 1), cfg.get("topk_group", 1)
    if mt == "deepseek_v2":
        scores = torch.softmax(logits, -1)
        if cfg.get("topk_method", "greedy") == "group_limited_greedy":
            group_scores = scores.view(-1, n_group, E // n_group).max(-1).values
            gidx = torch.topk(group_scores, topk_group, dim=-1).indices
            gmask = torch.zeros_like(group_scores).scatter_(1, gidx, 1)
            smask = gmask.unsqueeze(-1).expand(-1, n_group, E // n_group).reshape(-1, E)
            scores = scores.masked_fill(smask == 0, 0.0)
        w, idx = topk_rows(scores, k)
        if k > 1 and cfg.get("norm_topk_prob", False):
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        else:
            w = w * cfg.get("routed_scaling_factor", 1.0)
    else:
        scores = torch.sigmoid(logits)
        choice = scores + _w(W, f"{p}mlp.gate.e_score_correction_bias")
        group_scores = choice.view(-1, n_group, E // n_group).topk(2, dim=-1).values.sum(-1)
        gidx = torch.topk(group_scores, topk_group, dim=-1).indices
        gmask = torch.zeros_like(group_scores).scatter_(1, gidx, 1)
        smask = gmask.unsqueeze(-1).expand(-1, n_group, E // n_group).reshape(-1, E)
        tmp = choice.masked_fill(smask == 0, 0.0)
        idx = torch.topk(tmp, k, dim=-1).indices
        w = scores.gather(1, idx)
        if k > 1 and cfg.get("norm_topk_prob", False):
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * cfg.get("routed_scaling_factor", 1.0)
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(k):
            out[t] += w[t, j] * swiglu_mlp(W, f"{p}mlp.experts.{int(idx[t, j])}.", x[t:t + 1])[0]
    if cfg.get("n_shared_experts"):
        out = out + swiglu_mlp(W, f"{p}mlp.shared_experts.", x)
    return out


def is_moe_layer(cfg, i):
    mt = cfg["model_type"]
    if mt == "mixtral":
        return True
    if mt == "qwen3_moe":
        return i not in cfg.get("mlp_only_layers", []) and (i + 1) % cfg.get("decoder_sparse_step", 1) == 0
    if mt in ("deepseek_v2", "deepseek_v3"):
        return cfg.get("n_routed_experts") is not None and i >= cfg.get("first_k_dense_replace", 0) and \
            i % cfg.get("moe_layer_freq", 1) == 0
    return False


def logits(cfg, W, ids):
    ids = torch.as_tensor(ids, dtype=torch.long)
    h = _w(W, "model.embed_tokens.weight")[ids]
    eps = cfg["rms_norm_eps"]
    mla = cfg["model_type"] in ("deepseek_v2", "deepseek_v3")
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rms_norm(h, _w(W, p + "input_layernorm.weight"), eps)
        h = h + (mla_attention(cfg, W, p + "self_attn.", x) if mla else gqa_attention(cfg, W, p + "self_attn.", x))
        x = rms_norm(h, _w(W, p + "post_attention_layernorm.weight"), eps)
        h = h + (moe_block(cfg, W, p, x, i) if is_moe_layer(cfg, i) else swiglu_mlp(W, p + "mlp.", x))
    h = rms_norm(h, _w(W, "model.norm.weight"), eps)
    head = _w(W, "model.embed_tokens.weight") if cfg.get("tie_word_embeddings", False) else _w(W, "lm_head.weight")
    return h @ head.T


def greedy(cfg, W, ids, n):
    ids = list(ids)
    steps = []
    for _ in range(n):
        last = logits(cfg, W, ids)[-1]
        steps.append(last)
        ids.append(int(torch.argmax(last)))
    return ids[len(ids) - n:], torch.stack(steps)
