"""Writes tests/fixtures/hf/<family>/: a tiny random model in Hugging Face's layout and config,
the matching Primus experiment, and what the independent reference (hf_models.py) computes.

Run with Debian's interpreter (torch 1.13, numpy): /usr/bin/python3 tools/reference/hf/make_hf_fixtures.py
Deterministic (seeded): running it again rewrites identical files.

Per family:
  hf/config.json, hf/model.safetensors (or model-0000k-of-0000n.safetensors + index)
                   HF names and shapes; F32, or BF16 for `llama32_tied` (values are the bf16 ones)
  experiment.yaml  the same architecture as a Primus experiment (NullTokenizer over the vocabulary)
  expected.safetensors
      prompt [s] I32, logits [s, vocab] F32 (every position), greedy [n] I32 (greedy continuation
      with full recomputation), greedy_logits [n, vocab] F32 (the logits each greedy step chose from)
The reference computes in float64 from the stored weights; stored results are rounded once to
float32. Seeds are re-drawn until every greedy step's best logit leads the second by at least
1e-3 and every MoE routing decision (top-k cut, group cut) has a margin of at least 1e-4, so
that float32 rounding cannot flip a choice (and, for deepseek_v3, every routing choice value is
positive: see hf_models.py on group masking).

Families: llama (Llama 3.1: GQA, llama3 rope scaling, untied), llama32_tied (Llama 3.2: tied
embeddings, factor 32, BF16 weights), qwen2 (QKV biases), qwen3 (q/k norms, head_dim 32 != hidden
/ heads), qwen3_moe (q/k norms, 8 experts top-2 renormalised, stored in two shards with an index),
mixtral (4 experts top-2), deepseek_v2 (V2-Lite: MLA without q-LoRA, YaRN, softmax router with
routed_scaling_factor, 2 shared experts, first layer dense), deepseek_v3 (MLA with q-LoRA, sigmoid
router with e_score_correction_bias, 4 groups keep 2, top-4, routed_scaling_factor 2.5, one MTP
layer stored as model.layers.3).
"""
import json
import os
import pathlib
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "model"))
import hf_models  # noqa: E402
import safetensors_file  # noqa: E402

OUT = HERE.parents[2] / "tests" / "fixtures" / "hf"
V, H, HEADS, KV, D, FFN = 256, 64, 4, 2, 16, 128
PROMPT, STEPS = 10, 6


def base_config(model_type, arch, layers=2):
    return {
        "architectures": [arch], "model_type": model_type, "vocab_size": V, "hidden_size": H,
        "intermediate_size": FFN, "num_hidden_layers": layers, "num_attention_heads": HEADS,
        "num_key_value_heads": KV, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "hidden_act": "silu", "torch_dtype": "float32",
        "bos_token_id": 1, "eos_token_id": 2,
    }


FAMILIES = {}


def family(f):
    FAMILIES[f.__name__] = f
    return f


@family
def llama():
    c = base_config("llama", "LlamaForCausalLM")
    c.update(rope_theta=500000.0, attention_bias=False, mlp_bias=False, head_dim=D,
             rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192})
    exp = {"model": "llama3_base.yaml", "use_rope_scaling": True, "rope_scaling_factor": 8.0, "rotary_base": 500000}
    return c, exp


@family
def llama32_tied():
    c, exp = llama()
    c["tie_word_embeddings"] = True
    c["rope_scaling"]["factor"] = 32.0
    c["torch_dtype"] = "bfloat16"
    exp.update(untie_embeddings_and_output_weights=False, rope_scaling_factor=32.0)
    return c, exp


@family
def qwen2():
    c = base_config("qwen2", "Qwen2ForCausalLM")
    c.update(rope_theta=1000000.0, rms_norm_eps=1e-6, use_sliding_window=False, sliding_window=None)
    return c, {"model": "qwen2.5_base.yaml", "add_qkv_bias": True, "rotary_base": 1000000, "norm_epsilon": 1e-6}


@family
def qwen3():
    c = base_config("qwen3", "Qwen3ForCausalLM")
    c.update(rope_theta=1000000.0, rms_norm_eps=1e-6, head_dim=32, attention_bias=False)
    return c, {"model": "llama3_base.yaml", "qk_layernorm": True, "kv_channels": 32, "rotary_base": 1000000,
               "norm_epsilon": 1e-6}


@family
def qwen3_moe():
    c = base_config("qwen3_moe", "Qwen3MoeForCausalLM")
    c.update(rope_theta=1000000.0, rms_norm_eps=1e-6, head_dim=D, attention_bias=False, num_experts=8,
             num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, decoder_sparse_step=1,
             mlp_only_layers=[], router_aux_loss_coef=0.001)
    return c, {"model": "llama3_base.yaml", "qk_layernorm": True, "rotary_base": 1000000, "norm_epsilon": 1e-6,
               "num_experts": 8, "moe_router_topk": 2, "moe_ffn_hidden_size": 32, "moe_router_pre_softmax": False,
               "moe_router_score_function": "softmax"}


@family
def mixtral():
    c = base_config("mixtral", "MixtralForCausalLM")
    c.update(rope_theta=1000000.0, num_local_experts=4, num_experts_per_tok=2, sliding_window=None,
             router_aux_loss_coef=0.02)
    return c, {"model": "mixtral_base.yaml", "num_experts": 4, "moe_router_topk": 2, "rotary_base": 1000000}


def mla_common(c):
    c.update(kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16, n_routed_experts=8,
             moe_intermediate_size=32, first_k_dense_replace=1, moe_layer_freq=1, rms_norm_eps=1e-6,
             rope_scaling={"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                           "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
             num_key_value_heads=HEADS)
    c.pop("head_dim", None)
    return {"multi_latent_attention": True, "qk_layernorm": True, "kv_lora_rank": 32, "qk_head_dim": 16,
            "qk_pos_emb_head_dim": 16, "v_head_dim": 16, "kv_channels": 16, "num_query_groups": HEADS,
            "rope_type": "yarn", "rotary_scaling_factor": 40.0, "original_max_position_embeddings": 4096,
            "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707, "rotary_base": 10000,
            "norm_epsilon": 1e-6, "num_experts": 8, "moe_ffn_hidden_size": 32, "moe_layer_freq": "([0]*1+[1]*2)"}


@family
def deepseek_v2():
    c = base_config("deepseek_v2", "DeepseekV2ForCausalLM", layers=3)
    exp = mla_common(c)
    c.update(q_lora_rank=None, num_experts_per_tok=2, n_shared_experts=2, topk_method="greedy", n_group=1,
             topk_group=1, norm_topk_prob=False, routed_scaling_factor=1.5, scoring_func="softmax",
             aux_loss_alpha=0.001, seq_aux=True)
    exp.update({"model": "deepseek_v2_base.yaml", "q_lora_rank": None, "moe_router_topk": 2,
                "moe_shared_expert_intermediate_size": 64, "moe_router_topk_scaling_factor": 1.5})
    return c, exp


@family
def deepseek_v3():
    c = base_config("deepseek_v3", "DeepseekV3ForCausalLM", layers=3)
    exp = mla_common(c)
    c.update(q_lora_rank=48, num_experts_per_tok=4, n_shared_experts=1, topk_method="noaux_tc", n_group=4,
             topk_group=2, norm_topk_prob=True, routed_scaling_factor=2.5, scoring_func="sigmoid",
             num_nextn_predict_layers=1)
    exp["rope_scaling"] = None
    exp.pop("rope_scaling")
    c["rope_scaling"].update(mscale=1.0, mscale_all_dim=1.0)
    exp.update({"model": "deepseek_v3_base.yaml", "q_lora_rank": 48, "moe_router_topk": 4,
                "moe_shared_expert_intermediate_size": 32, "moe_router_num_groups": 4, "moe_router_group_topk": 2,
                "moe_router_topk_scaling_factor": 2.5, "mscale": 1.0, "mscale_all_dim": 1.0, "mtp_num_layers": 1})
    return c, exp


def hf_weight_shapes(c):
    """name -> (shape, kind) with kind in {matrix, norm, bias, router, ebias}."""
    out = {"model.embed_tokens.weight": ((V, H), "matrix"), "model.norm.weight": ((H,), "norm")}
    if not c.get("tie_word_embeddings"):
        out["lm_head.weight"] = ((V, H), "matrix")
    mt = c["model_type"]
    mla = mt in ("deepseek_v2", "deepseek_v3")
    layers = c["num_hidden_layers"] + c.get("num_nextn_predict_layers", 0)
    for i in range(layers):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = ((H,), "norm")
        out[p + "post_attention_layernorm.weight"] = ((H,), "norm")
        a = p + "self_attn."
        if mla:
            n, dn, dr, dv = HEADS, c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
            if c.get("q_lora_rank") is None:
                out[a + "q_proj.weight"] = ((n * (dn + dr), H), "matrix")
            else:
                out[a + "q_a_proj.weight"] = ((c["q_lora_rank"], H), "matrix")
                out[a + "q_a_layernorm.weight"] = ((c["q_lora_rank"],), "norm")
                out[a + "q_b_proj.weight"] = ((n * (dn + dr), c["q_lora_rank"]), "matrix")
            out[a + "kv_a_proj_with_mqa.weight"] = ((c["kv_lora_rank"] + dr, H), "matrix")
            out[a + "kv_a_layernorm.weight"] = ((c["kv_lora_rank"],), "norm")
            out[a + "kv_b_proj.weight"] = ((n * (dn + dv), c["kv_lora_rank"]), "matrix")
            out[a + "o_proj.weight"] = ((H, n * dv), "matrix")
        else:
            d = c.get("head_dim") or H // HEADS
            g = c["num_key_value_heads"]
            out[a + "q_proj.weight"] = ((HEADS * d, H), "matrix")
            out[a + "k_proj.weight"] = ((g * d, H), "matrix")
            out[a + "v_proj.weight"] = ((g * d, H), "matrix")
            if mt == "qwen2":
                out[a + "q_proj.bias"] = ((HEADS * d,), "bias")
                out[a + "k_proj.bias"] = ((g * d,), "bias")
                out[a + "v_proj.bias"] = ((g * d,), "bias")
            if mt in ("qwen3", "qwen3_moe"):
                out[a + "q_norm.weight"] = ((d,), "norm")
                out[a + "k_norm.weight"] = ((d,), "norm")
            out[a + "o_proj.weight"] = ((H, HEADS * d), "matrix")
        mtp = i >= c["num_hidden_layers"]
        if hf_models.is_moe_layer(c, i) or (mtp and mla):
            if mt == "mixtral":
                out[p + "block_sparse_moe.gate.weight"] = ((c["num_local_experts"], H), "router")
                for e in range(c["num_local_experts"]):
                    q = f"{p}block_sparse_moe.experts.{e}."
                    out[q + "w1.weight"] = ((FFN, H), "matrix")
                    out[q + "w3.weight"] = ((FFN, H), "matrix")
                    out[q + "w2.weight"] = ((H, FFN), "matrix")
            else:
                E = c.get("num_experts") or c.get("n_routed_experts")
                f = c["moe_intermediate_size"]
                out[p + "mlp.gate.weight"] = ((E, H), "router")
                if mt == "deepseek_v3":
                    out[p + "mlp.gate.e_score_correction_bias"] = ((E,), "ebias")
                for e in range(E):
                    q = f"{p}mlp.experts.{e}."
                    out[q + "gate_proj.weight"] = ((f, H), "matrix")
                    out[q + "up_proj.weight"] = ((f, H), "matrix")
                    out[q + "down_proj.weight"] = ((H, f), "matrix")
                if c.get("n_shared_experts"):
                    fs = f * c["n_shared_experts"]
                    out[p + "mlp.shared_experts.gate_proj.weight"] = ((fs, H), "matrix")
                    out[p + "mlp.shared_experts.up_proj.weight"] = ((fs, H), "matrix")
                    out[p + "mlp.shared_experts.down_proj.weight"] = ((H, fs), "matrix")
        else:
            out[p + "mlp.gate_proj.weight"] = ((FFN, H), "matrix")
            out[p + "mlp.up_proj.weight"] = ((FFN, H), "matrix")
            out[p + "mlp.down_proj.weight"] = ((H, FFN), "matrix")
        if mtp:  # DeepSeek-V3's multi-token-prediction layer
            out[p + "enorm.weight"] = ((H,), "norm")
            out[p + "hnorm.weight"] = ((H,), "norm")
            out[p + "eh_proj.weight"] = ((H, 2 * H), "matrix")
            out[p + "shared_head.norm.weight"] = ((H,), "norm")
            out[p + "shared_head.head.weight"] = ((V, H), "shared_head")
            out[p + "embed_tokens.weight"] = ((V, H), "shared_embed")
    return out


def random_weights(c, rng):
    W = {}
    for name, (shape, kind) in hf_weight_shapes(c).items():
        if kind == "matrix":
            W[name] = rng.normal(0.0, 0.12, shape)
        elif kind == "router":
            W[name] = rng.normal(0.0, 0.5, shape)
        elif kind == "norm":
            W[name] = 1.0 + rng.normal(0.0, 0.1, shape)
        elif kind == "bias":
            W[name] = rng.normal(0.0, 0.1, shape)
        elif kind == "ebias":
            # Non-negative, so every choice value (sigmoid + bias) is positive: HF masks dropped
            # groups with 0.0 where DeepSeek's own code and Megatron use -inf (hf_models.py).
            W[name] = rng.uniform(0.0, 0.1, shape)
    for name, (shape, kind) in hf_weight_shapes(c).items():  # the MTP layer's copies
        if kind == "shared_head":
            W[name] = W.get("lm_head.weight", W["model.embed_tokens.weight"])
        elif kind == "shared_embed":
            W[name] = W["model.embed_tokens.weight"]
    W = {k: np.asarray(v, dtype=np.float32) for k, v in W.items()}
    if c["torch_dtype"] == "bfloat16":
        W = {k: safetensors_file.bf16_to_f32(safetensors_file.bf16_bits(v)).reshape(v.shape) for k, v in W.items()}
    return W


def routing_margin(c, W, ids):
    """Smallest gap at a routing cut (k-th vs k+1-th choice, kept vs dropped group) over every
    token of every MoE layer, recomputing the layer inputs with the reference."""
    if not any(hf_models.is_moe_layer(c, i) for i in range(c["num_hidden_layers"])):
        return float("inf")
    margins = []
    orig = hf_models.moe_block

    def spy(cfg, Wt, p, x, layer):
        mt = cfg["model_type"]
        gate = Wt[p + ("block_sparse_moe.gate.weight" if mt == "mixtral" else "mlp.gate.weight")]
        logits = x @ torch.as_tensor(gate, dtype=torch.float64).T
        k = cfg["num_experts_per_tok"]
        if mt == "deepseek_v3":
            s = torch.sigmoid(logits) + torch.as_tensor(Wt[p + "mlp.gate.e_score_correction_bias"], dtype=torch.float64)
            margins.append(float(s.min()))  # positive: the 0.0 / -inf masking question never arises
            E, G = cfg["n_routed_experts"], cfg["n_group"]
            gs = s.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1).sort(-1, descending=True).values
            margins.append(float((gs[:, cfg["topk_group"] - 1] - gs[:, cfg["topk_group"]]).min()))
            gidx = torch.topk(s.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1), cfg["topk_group"], -1).indices
            mask = torch.zeros(s.shape[0], G, dtype=torch.float64).scatter_(1, gidx, 1)
            s = s.masked_fill(mask.unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E) == 0, -1e9)
        else:
            s = torch.softmax(logits, -1)
        top = s.sort(-1, descending=True).values
        margins.append(float((top[:, k - 1] - top[:, k]).min()))
        return orig(cfg, Wt, p, x, layer)

    hf_models.moe_block = spy
    try:
        hf_models.logits(c, W, ids)
    finally:
        hf_models.moe_block = orig
    return min(margins)


def experiment_yaml(name, c, exp):
    e = dict(exp)
    model = e.pop("model")
    o = {
        "num_layers": c["num_hidden_layers"], "hidden_size": H, "ffn_hidden_size": c["intermediate_size"],
        "num_attention_heads": HEADS, "group_query_attention": True,
        "num_query_groups": c["num_key_value_heads"], "kv_channels": c.get("head_dim") or H // HEADS,
        "normalization": "RMSNorm", "norm_epsilon": c["rms_norm_eps"], "swiglu": True,
        "untie_embeddings_and_output_weights": not c.get("tie_word_embeddings", False),
        "add_bias_linear": False, "add_qkv_bias": False, "qk_layernorm": False,
        "use_rope_scaling": False, "position_embedding_type": "rope", "rotary_percent": 1.0,
        "max_position_embeddings": 4096, "seq_length": 32,
        "tokenizer_type": "NullTokenizer", "vocab_size": V - 1, "make_vocab_size_divisible_by": 128,
        "mock_data": True, "train_iters": 2, "micro_batch_size": 1, "global_batch_size": 1,
        "lr": 1.0e-4, "min_lr": 0.0, "lr_warmup_iters": 0, "eval_iters": 0, "bf16": False,
        "moe_aux_loss_coeff": 0.0, "moe_z_loss_coeff": None,
    }
    o.update(e)
    lines = [f"# GENERATED by tools/reference/hf/make_hf_fixtures.py: the {name} fixture's architecture as an",
             "# experiment (tiny sizes, NullTokenizer over the 256-token vocabulary).", f"model: {model}",
             "overrides:"]
    for k, v in o.items():
        lines.append(f"  {k}: {json.dumps(v) if not isinstance(v, str) or v.startswith('(') else v}")
    return "\n".join(lines).replace(": null", ": null") + "\n"


def write_hf(dirpath, c, W, shards):
    dirpath.mkdir(parents=True, exist_ok=True)
    for old in dirpath.glob("*.safetensors*"):
        old.unlink()
    (dirpath / "config.json").write_text(json.dumps(c, indent=2, sort_keys=True) + "\n")
    names = list(W.keys())
    bf16 = c["torch_dtype"] == "bfloat16"

    def value(k):
        return ("BF16", safetensors_file.bf16_bits(W[k])) if bf16 else W[k]

    if shards == 1:
        safetensors_file.save(dirpath / "model.safetensors", {k: value(k) for k in names}, {"format": "pt"})
        return
    per = (len(names) + shards - 1) // shards
    index = {"metadata": {"total_size": int(sum(W[k].size * (2 if bf16 else 4) for k in names))}, "weight_map": {}}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s * per:(s + 1) * per]
        safetensors_file.save(dirpath / fname, {k: value(k) for k in part}, {"format": "pt"})
        for k in part:
            index["weight_map"][k] = fname
    (dirpath / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def make(name):
    c, exp = FAMILIES[name]()
    for seed in range(100):
        rng = np.random.default_rng(1000 * (list(FAMILIES).index(name) + 1) + seed)
        W = random_weights(c, rng)
        prompt = rng.integers(0, V, PROMPT).tolist()
        with torch.no_grad():
            full = hf_models.logits(c, W, prompt)
            gen, step_logits = hf_models.greedy(c, W, prompt, STEPS)
            top2 = step_logits.sort(-1, descending=True).values
            lead = float((top2[:, 0] - top2[:, 1]).min())
            margin = min(routing_margin(c, W, prompt + gen[:k]) for k in range(STEPS))
        if lead >= 1e-3 and margin >= 1e-4:
            break
    else:
        raise RuntimeError(f"{name}: no seed gives clear greedy and routing decisions")
    out = OUT / name
    write_hf(out / "hf", c, W, shards=2 if name == "qwen3_moe" else 1)
    (out / "experiment.yaml").write_text(experiment_yaml(name, c, exp))
    safetensors_file.save(out / "expected.safetensors", {
        "prompt": np.asarray(prompt, dtype=np.int32), "logits": full.numpy().astype(np.float32),
        "greedy": np.asarray(gen, dtype=np.int32), "greedy_logits": step_logits.numpy().astype(np.float32)})
    print(f"{name}: seed {seed}, greedy lead {lead:.3g}, routing margin {margin:.3g}, greedy {gen}")


def main():
    names = sys.argv[1:] or list(FAMILIES)
    for n in names:
        make(n)


if __name__ == "__main__":
    main()
