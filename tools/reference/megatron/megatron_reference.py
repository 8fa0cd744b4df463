"""Megatron-LM legacy checkpoints of a Hugging Face fixture, derived independently of the engine:

    /usr/bin/python3 megatron_reference.py check HF_DIR MEGATRON_DIR --tp T --pp P --ep E --vpp V \
        --impl transformer_engine|local [--grouped] [--bf16] [--iteration N]
        reads a checkpoint written by `primus checkpoint export-megatron` with torch.load and
        compares every rank's state dict with what Megatron-Core expects for the model
    /usr/bin/python3 megatron_reference.py write HF_DIR MEGATRON_DIR (same layout options)
        writes that expected checkpoint with torch.save (what Megatron itself would save, model
        weights only, args as an argparse.Namespace with a torch dtype in it, iteration 7), for
        `primus checkpoint import-megatron` to read

Megatron-Core facts used (docs: /work/shared/reference/megatron-engine.md §11, §5):
  * files iter_%07d|release/mp_rank_{tp:02d}[_{pp:03d}][_{ep:03d}]/model_optim_rng.pt with keys
    args (argparse.Namespace), checkpoint_version 3.0, iteration, model (model{v} per chunk);
  * GPTModel names: embedding.word_embeddings.weight, decoder.layers.{local}.…, decoder.final_layernorm,
    output_layer.weight (absent when tied and PP == 1; the last stage's copy when tied and PP > 1);
    fused QKV rows per query group [q heads, k, v]; fc1 = [gate; up]; MLA linear_q_proj /
    linear_q_down_proj / linear_q_up_proj / linear_kv_down_proj / linear_kv_up_proj; routers
    mlp.router.weight (+ expert_bias buffer); experts local_experts.{i}.linear_fc1 (or TE grouped
    linear_fc1.weight{i}); shared_experts; MTP mtp.layers.{j}.{enorm,hnorm,eh_proj,final_layernorm}
    and mtp_model_layer.*;
  * TE spec fuses input_layernorm into linear_qkv.layer_norm_weight, a dense MLP's pre_mlp_layernorm
    into linear_fc1.layer_norm_weight, MLA's q/kv norms into linear_q_up_proj/linear_kv_up_proj;
  * tensor parallelism: column-parallel (qkv, MLA q/q_up/kv_up, fc1 as [gate_r; up_r], eh_proj,
    vocabulary rows padded to make_vocab_size_divisible_by × TP) split rows, row-parallel (proj,
    fc2) split columns, everything else whole; layer l of PP·V chunks sits on stage
    (l // per_chunk) % PP, chunk (l // per_chunk) // PP, as local layer l % per_chunk; expert
    rank e holds experts [e·E/EP, (e+1)·E/EP) renumbered from 0.
Linear modules' and TE core attention's _extra_state are None (not compared key by key beyond
being None). Exit status 0 when everything matches.
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
import safetensors_file  # noqa: E402


def megatron_global(cfg, W):
    """HF weights -> Megatron-Core global tensors (local-spec names), numpy float32."""
    mt = cfg["model_type"]
    H, n = cfg["hidden_size"], cfg["num_attention_heads"]
    g = cfg.get("num_key_value_heads", n)
    d = cfg.get("head_dim") or H // n
    L = cfg["num_hidden_layers"]
    mla = mt.startswith("deepseek")
    out = {"embedding.word_embeddings.weight": W["model.embed_tokens.weight"],
           "decoder.final_layernorm.weight": W["model.norm.weight"]}
    if not cfg.get("tie_word_embeddings", False):
        out["output_layer.weight"] = W["lm_head.weight"]

    def layer(prefix, hf, moe):
        o = {}
        o["input_layernorm.weight"] = W[hf + "input_layernorm.weight"]
        o["pre_mlp_layernorm.weight"] = W[hf + "post_attention_layernorm.weight"]
        a = hf + "self_attn."
        if mla:
            if cfg.get("q_lora_rank") is None:
                o["self_attention.linear_q_proj.weight"] = W[a + "q_proj.weight"]
            else:
                o["self_attention.linear_q_down_proj.weight"] = W[a + "q_a_proj.weight"]
                o["self_attention.q_layernorm.weight"] = W[a + "q_a_layernorm.weight"]
                o["self_attention.linear_q_up_proj.weight"] = W[a + "q_b_proj.weight"]
            o["self_attention.linear_kv_down_proj.weight"] = W[a + "kv_a_proj_with_mqa.weight"]
            o["self_attention.kv_layernorm.weight"] = W[a + "kv_a_layernorm.weight"]
            o["self_attention.linear_kv_up_proj.weight"] = W[a + "kv_b_proj.weight"]
        else:
            for kind in ("weight", "bias"):
                if a + "q_proj." + kind not in W:
                    continue
                q, k, v = (W[a + p + "_proj." + kind] for p in "qkv")
                per = n // g
                q = q.reshape(g, per * d, *q.shape[1:])
                k = k.reshape(g, d, *k.shape[1:])
                v = v.reshape(g, d, *v.shape[1:])
                o["self_attention.linear_qkv." + kind] = np.concatenate([q, k, v], axis=1).reshape(-1, *q.shape[2:])
            if a + "q_norm.weight" in W:
                o["self_attention.q_layernorm.weight"] = W[a + "q_norm.weight"]
                o["self_attention.k_layernorm.weight"] = W[a + "k_norm.weight"]
        o["self_attention.linear_proj.weight"] = W[a + "o_proj.weight"]
        if moe:
            if mt == "mixtral":
                o["mlp.router.weight"] = W[hf + "block_sparse_moe.gate.weight"]
                E = cfg["num_local_experts"]
                for e in range(E):
                    x = f"{hf}block_sparse_moe.experts.{e}."
                    o[f"mlp.experts.local_experts.{e}.linear_fc1.weight"] = np.concatenate([W[x + "w1.weight"], W[x + "w3.weight"]])
                    o[f"mlp.experts.local_experts.{e}.linear_fc2.weight"] = W[x + "w2.weight"]
            else:
                o["mlp.router.weight"] = W[hf + "mlp.gate.weight"]
                if hf + "mlp.gate.e_score_correction_bias" in W:
                    o["mlp.router.expert_bias"] = W[hf + "mlp.gate.e_score_correction_bias"]
                E = cfg.get("num_experts") or cfg.get("n_routed_experts")
                for e in range(E):
                    x = f"{hf}mlp.experts.{e}."
                    o[f"mlp.experts.local_experts.{e}.linear_fc1.weight"] = np.concatenate([W[x + "gate_proj.weight"], W[x + "up_proj.weight"]])
                    o[f"mlp.experts.local_experts.{e}.linear_fc2.weight"] = W[x + "down_proj.weight"]
                if hf + "mlp.shared_experts.gate_proj.weight" in W:
                    x = hf + "mlp.shared_experts."
                    o["mlp.shared_experts.linear_fc1.weight"] = np.concatenate([W[x + "gate_proj.weight"], W[x + "up_proj.weight"]])
                    o["mlp.shared_experts.linear_fc2.weight"] = W[x + "down_proj.weight"]
        else:
            o["mlp.linear_fc1.weight"] = np.concatenate([W[hf + "mlp.gate_proj.weight"], W[hf + "mlp.up_proj.weight"]])
            o["mlp.linear_fc2.weight"] = W[hf + "mlp.down_proj.weight"]
        return {prefix + k: v for k, v in o.items()}

    def is_moe(i):
        if mt == "mixtral":
            return True
        if mt == "qwen3_moe":
            return True
        if mla:
            return i >= cfg.get("first_k_dense_replace", 0)
        return False

    for i in range(L):
        out.update(layer(f"decoder.layers.{i}.", f"model.layers.{i}.", is_moe(i)))
    for j in range(cfg.get("num_nextn_predict_layers", 0)):
        hf = f"model.layers.{L + j}."
        out.update(layer(f"mtp.layers.{j}.mtp_model_layer.", hf, is_moe(L - 1)))
        out[f"mtp.layers.{j}.enorm.weight"] = W[hf + "enorm.weight"]
        out[f"mtp.layers.{j}.hnorm.weight"] = W[hf + "hnorm.weight"]
        out[f"mtp.layers.{j}.eh_proj.weight"] = W[hf + "eh_proj.weight"]
        out[f"mtp.layers.{j}.final_layernorm.weight"] = W[hf + "shared_head.norm.weight"]
    return out


COLUMN = ("linear_qkv.weight", "linear_qkv.bias", "linear_q_proj.weight", "linear_q_up_proj.weight",
          "linear_kv_up_proj.weight", "eh_proj.weight", "word_embeddings.weight", "output_layer.weight")
ROW = ("linear_proj.weight", "linear_fc2.weight")


def shard(name, x, t, T):
    if any(name.endswith(c) for c in COLUMN):
        r = x.shape[0] // T
        return x[t * r:(t + 1) * r]
    if name.endswith("linear_fc1.weight"):
        half = x.shape[0] // 2
        r = half // T
        return np.concatenate([x[t * r:(t + 1) * r], x[half + t * r:half + (t + 1) * r]])
    if any(name.endswith(c) for c in ROW):
        c = x.shape[1] // T
        return x[:, t * c:(t + 1) * c]
    return x


def te_name(name, dense_attn, dense_mlp):
    if dense_attn:
        name = name.replace("input_layernorm.weight", "self_attention.linear_qkv.layer_norm_weight")
    else:
        name = name.replace("self_attention.q_layernorm.weight", "self_attention.linear_q_up_proj.layer_norm_weight")
        name = name.replace("self_attention.kv_layernorm.weight", "self_attention.linear_kv_up_proj.layer_norm_weight")
    if dense_mlp:
        name = name.replace("pre_mlp_layernorm.weight", "mlp.linear_fc1.layer_norm_weight")
    return name


def expected_files(cfg, G, a):
    L = cfg["num_hidden_layers"]
    per = L // (a.pp * a.vpp)
    mla = cfg["model_type"].startswith("deepseek")
    E = cfg.get("num_experts") or cfg.get("n_routed_experts") or cfg.get("num_local_experts") or 0
    local_E = E // a.ep if E else 0
    vocab = G["embedding.word_embeddings.weight"].shape[0]
    mult = 128 * a.tp
    padded = (vocab + mult - 1) // mult * mult

    def pad(x):
        return np.concatenate([x, np.zeros((padded - x.shape[0], x.shape[1]), x.dtype)]) if padded > x.shape[0] else x

    files = {}
    for p in range(a.pp):
        for t in range(a.tp):
            for e in range(a.ep):
                folder = f"mp_rank_{t:02d}" + (f"_{p:03d}" if a.pp > 1 else "") + (f"_{e:03d}" if a.ep > 1 else "")
                chunks = [dict() for _ in range(a.vpp)]
                last, first = p == a.pp - 1, p == 0
                for name, x in G.items():
                    if name in ("embedding.word_embeddings.weight",):
                        if first:
                            chunks[0][name] = shard(name, pad(x), t, a.tp)
                        if last and not first and cfg.get("num_nextn_predict_layers", 0):
                            chunks[-1][name] = shard(name, pad(x), t, a.tp)
                        continue
                    if name in ("output_layer.weight", "decoder.final_layernorm.weight"):
                        if last:
                            chunks[-1][name] = shard(name, pad(x) if name == "output_layer.weight" else x, t, a.tp)
                        continue
                    parts = name.split(".")
                    if parts[0] == "decoder":
                        li = int(parts[2])
                        block = li // per
                        if block % a.pp != p:
                            continue
                        chunk, local = block // a.pp, li % per
                        rest = ".".join(parts[3:])
                        moe_layer = any(k.startswith(f"decoder.layers.{li}.mlp.router") for k in G)
                        prefix = f"decoder.layers.{local}."
                    else:  # mtp
                        if not last:
                            continue
                        chunk = a.vpp - 1
                        rest = ".".join(parts[3:])
                        moe_layer = any(k.startswith(f"mtp.layers.{parts[2]}.mtp_model_layer.mlp.router") for k in G)
                        prefix = ".".join(parts[:3]) + "."
                    if "local_experts." in rest:
                        idx = int(rest.split("local_experts.")[1].split(".")[0])
                        if idx // local_E != e:
                            continue
                        head, tail = rest.split(f"mlp.experts.local_experts.{idx}.")
                        rest = head + (f"mlp.experts.{tail}{idx - e * local_E}" if a.grouped else
                                       f"mlp.experts.local_experts.{idx - e * local_E}.{tail}")
                        full = prefix + rest
                    else:
                        full = prefix + rest
                    if a.impl == "transformer_engine":
                        if parts[0] == "mtp" and not rest.startswith("mtp_model_layer."):
                            pass
                        else:
                            full = te_name(full, not mla, not moe_layer)
                    chunks[chunk][full] = shard(name, x, t, a.tp)
                if cfg.get("tie_word_embeddings") and a.pp > 1 and last:
                    chunks[-1]["output_layer.weight"] = shard("output_layer.weight", pad(G["embedding.word_embeddings.weight"]), t, a.tp)
                files[folder] = chunks
    return files, padded


def write(a, cfg, files, padded):
    it_dir = os.path.join(a.megatron_dir, f"iter_{7:07d}")
    for folder, chunks in files.items():
        os.makedirs(os.path.join(it_dir, folder), exist_ok=True)
        args = argparse.Namespace(
            num_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
            num_attention_heads=cfg["num_attention_heads"], tensor_model_parallel_size=a.tp,
            pipeline_model_parallel_size=a.pp, expert_model_parallel_size=a.ep,
            virtual_pipeline_model_parallel_size=a.vpp if a.vpp > 1 else None, padded_vocab_size=padded,
            make_vocab_size_divisible_by=128, params_dtype=torch.bfloat16 if a.bf16 else torch.float32,
            consumed_train_samples=56, consumed_valid_samples=8, swiglu=True, iteration=7)
        sd = {"args": args, "checkpoint_version": 3.0, "iteration": 7}
        for c, want in enumerate(chunks):
            model = collections.OrderedDict()
            for k, v in want.items():
                t = torch.from_numpy(np.ascontiguousarray(v).astype(np.float32))
                model[k] = t.to(torch.bfloat16) if a.bf16 else t
            # Non-contiguous views, as a checkpoint may hold them: the reader must follow strides.
            for k in list(model):
                if k.endswith("linear_proj.weight"):
                    model[k] = model[k].t().contiguous().t()
            sd["model" if len(chunks) == 1 else f"model{c}"] = model
        torch.save(sd, os.path.join(it_dir, folder, "model_optim_rng.pt"))
    with open(os.path.join(a.megatron_dir, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("7")
    print(f"wrote {len(files)} files")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["check", "write"])
    ap.add_argument("hf_dir")
    ap.add_argument("megatron_dir")
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--pp", type=int, default=1)
    ap.add_argument("--ep", type=int, default=1)
    ap.add_argument("--vpp", type=int, default=1)
    ap.add_argument("--impl", default="transformer_engine")
    ap.add_argument("--grouped", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--iteration", default="release")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.hf_dir, "config.json")))
    W = {}
    for f in sorted(os.listdir(a.hf_dir)):
        if f.endswith(".safetensors"):
            W.update(safetensors_file.load(os.path.join(a.hf_dir, f))[0])
    G = megatron_global(cfg, W)
    files, padded = expected_files(cfg, G, a)
    if a.mode == "write":
        return write(a, cfg, files, padded)
    tracker = open(os.path.join(a.megatron_dir, "latest_checkpointed_iteration.txt")).read().strip()
    it_dir = "release" if a.iteration == "release" else f"iter_{int(a.iteration):07d}"
    errors = []
    if tracker != (a.iteration if a.iteration == "release" else str(int(a.iteration))):
        errors.append(f"tracker says {tracker!r}")
    found = sorted(os.listdir(os.path.join(a.megatron_dir, it_dir)))
    if found != sorted(files):
        errors.append(f"rank folders {found} != {sorted(files)}")
    tensors = 0
    for folder, chunks in files.items():
        sd = torch.load(os.path.join(a.megatron_dir, it_dir, folder, "model_optim_rng.pt"), map_location="cpu")
        if sd["checkpoint_version"] != 3.0:
            errors.append(f"{folder}: checkpoint_version {sd['checkpoint_version']}")
        args = sd["args"]
        for k, v in (("tensor_model_parallel_size", a.tp), ("pipeline_model_parallel_size", a.pp),
                     ("expert_model_parallel_size", a.ep), ("padded_vocab_size", padded),
                     ("num_layers", cfg["num_hidden_layers"]), ("hidden_size", cfg["hidden_size"]),
                     ("num_attention_heads", cfg["num_attention_heads"])):
            if getattr(args, k) != v:
                errors.append(f"{folder}: args.{k} = {getattr(args, k)} (expected {v})")
        for c, want in enumerate(chunks):
            model = sd["model" if len(chunks) == 1 else f"model{c}"]
            got = {k: v for k, v in model.items() if not k.endswith("._extra_state")}
            extras = [k for k in model if k.endswith("._extra_state")]
            for k in extras:
                if model[k] is not None:
                    errors.append(f"{folder}: {k} is not None")
            if set(got) != set(want):
                errors.append(f"{folder} chunk {c}: missing {sorted(set(want) - set(got))[:5]}, "
                              f"unexpected {sorted(set(got) - set(want))[:5]}")
            for k in set(got) & set(want):
                x = torch.from_numpy(np.ascontiguousarray(want[k]).astype(np.float32))
                if a.bf16:
                    x = x.to(torch.bfloat16)
                if got[k].dtype != x.dtype or tuple(got[k].shape) != tuple(x.shape) or not torch.equal(got[k], x):
                    errors.append(f"{folder}: {k} differs ({tuple(got[k].shape)} {got[k].dtype} vs {tuple(x.shape)} {x.dtype})")
                tensors += 1
    if errors:
        print("\n".join(errors[:40]))
        sys.exit(1)
    print(f"ok: {len(files)} files, {tensors} tensors")


if __name__ == "__main__":
    main()
