#!/usr/bin/python3
"""Writes the MoE / MLA / MTP / Qwen3 fidelity fixtures, tests/fixtures/model/<case>/, in the
format of the dense ones (make_model_fixtures.py; run with /usr/bin/python3: torch 1.13, numpy):

  config.json          Megatron argument names: the dense keys plus every MoE/MLA/MTP key
                       (null or Megatron's default where a case does not use it);
                       moe_layer_freq is an explicit 0/1 list for MoE models
  weights.safetensors  every parameter (F32, Megatron-Core local-spec names) and the routers'
                       expert_bias buffers (F32 [E], small random values, see below)
  batch.safetensors    tokens, labels, loss_mask as in the dense fixtures
  expected.safetensors the reference's answers (F32 unless noted):
      loss, lm_loss             [] the objective whose gradients are given, and its LM part
      losses, logits, act.*     as in the dense fixtures (act.mtp.layers.j: MTP depth j+1's
                                output after its final_layernorm)
      grad.<param>              gradient of `loss` for every parameter
      step_losses               [steps] objective of each AdamW step's forward pass
      step_lm_losses            [steps] its LM part
      step_grad_norms           [steps] global gradient norm before clipping
      per MoE layer L (L = decoder.layers.i or mtp.layers.j.transformer_layer):
        routing.L               I32 [b*s, k] selected experts per token, descending selection
                                value (torch.topk order); row = sample * s + position over
                                the global batch (micro-batch m = rows m*mbs*s ...)
        probs.L                 [b*s, k] their routing probabilities (after the top-k scaling
                                factor, before capacity dropping)
        kept.L                  I32 [b*s, k] 1 if the pair survived the capacity (capacity cases)
        tokens_per_expert.L     I32 [E] rows each expert processed, summed over micro-batches
                                (after capacity, padding rows included: what the expert-bias
                                counter accumulates)
        aux.L.<kind>            [M] value of each attached loss per micro-batch, kind in
                                aux_loss, seq_aux_loss, global_aux_loss, z_loss (with coeff)
        expert_bias.L           [steps + 1, E] bias used by step n in row n (row 0 = initial)
      mtp_loss.<k>              [M] CE_k / max(N_k, 1) per micro-batch, depth k = 1..D
      log.<name>                [] the step-1 iteration-line values as Megatron prints them:
                                lm_loss, load_balancing_loss, seq_load_balancing_loss,
                                global_load_balancing_loss, z_loss, mtp_1_loss ...

Choices:
- Sizes: hidden 32, 2 layers, vocab 100 -> 128, seq 16, micro-batch 2 (cases stay near 400 KB;
  weights and gradients are both stored). Expert FFN widths 8-16.
- Initialisation as the dense fixtures (std 0.2, output projections std/sqrt(2L), norm weights
  1 + N(0, 0.1)); routers N(0, 0.2) so routing is decisive; expert_bias N(0, 0.05) instead of
  Megatron's zeros so that loading and applying it is tested (it changes some selections).
- Loss coefficients are larger than production values (1e-2 aux, 1e-3 z) so that a missing or
  mis-scaled auxiliary gradient is visible in the router-weight gradient at the 1e-4 level; the
  generator prints the share of each case's router gradient that comes from them.
- Robust routing: every routing decision of the float64 run - the top-k boundary of each token
  (selection values, and the aux-loss scores), the group boundary, and the per-expert capacity
  boundary - must have a relative gap >= MARGIN (3e-4) in every step of the 10-step trajectory
  (moe_bf16: >= 1e-2 at step 0, see BF16_STEP0_MARGIN);
  otherwise the case is re-drawn with the next seed (seed + 1000 * attempt, the seed written to
  config.json). A float32 implementation then takes the same decisions: the generator checks
  that a float32 run of the reference routes identically in all 10 steps.
- clip_grad as the dense fixtures: some steps clip, every norm 1% away from the threshold.
- The generator prints, per case, the float32-vs-float64 error (loss, worst gradient rel L2,
  worst step objective) - the floor an exact fp32 implementation can reach.
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import decoder_reference as dr  # noqa: E402
import make_model_fixtures as dense  # noqa: E402
import safetensors_file  # noqa: E402

OUT = dense.OUT
GENERATOR = "tools/reference/model/make_decoder_fixtures.py"
MARGIN = 3e-4
# bf16: the engine's bf16 roundings can land on the other side of a rounding boundary than the
# emulation's, moving a router logit by ~1e-4; step 0 (loss and gradients) is kept 1e-2 away
# from any tie, later steps are not checked (their 1e-2 step-loss tolerance absorbs a flip).
BF16_STEP0_MARGIN = 1e-2
EXPERT_BIAS_STD = 0.05

# Megatron's defaults for the keys the dense fixtures do not have (ARG = training/arguments.py,
# MLATransformerConfig for the YaRN shape keys that are config fields, not CLI arguments).
DECODER_DEFAULTS = dict(
    num_experts=None, moe_layer_freq=None, moe_ffn_hidden_size=None, moe_router_topk=2,
    moe_router_score_function="softmax", moe_router_pre_softmax=False,
    moe_router_num_groups=None, moe_router_group_topk=None, moe_router_topk_scaling_factor=None,
    moe_router_enable_expert_bias=False, moe_router_bias_update_rate=1e-3,
    moe_router_load_balancing_type="aux_loss", moe_aux_loss_coeff=0.0, moe_z_loss_coeff=None,
    moe_expert_capacity_factor=None, moe_token_drop_policy="probs",
    moe_pad_expert_input_to_capacity=False, moe_shared_expert_intermediate_size=None,
    moe_shared_expert_gate=False, moe_router_dtype="fp32",
    multi_latent_attention=False, q_lora_rank=None, kv_lora_rank=32, qk_head_dim=128,
    qk_pos_emb_head_dim=64, v_head_dim=128, rope_type=None, rotary_scaling_factor=1.0,
    original_max_position_embeddings=4096, beta_fast=32.0, beta_slow=1.0, mscale=1.0,
    mscale_all_dim=0.0, mtp_num_layers=None, mtp_loss_scaling_factor=0.1,
)

GQA = dict(num_attention_heads=4, num_query_groups=2, group_query_attention=True)
MIXTRAL = dict(rotary_base=1000000, num_experts=8, moe_layer_freq=[1, 1], moe_router_topk=2,
               moe_ffn_hidden_size=16, moe_router_load_balancing_type="aux_loss",
               moe_aux_loss_coeff=1e-2)
MLA = dict(multi_latent_attention=True, qk_layernorm=True, kv_lora_rank=16, qk_head_dim=16,
           qk_pos_emb_head_dim=16, v_head_dim=16, kv_channels=16, norm_epsilon=1e-6,
           rotary_scaling_factor=40.0)

CASES = {
    # Qwen3 dense: qk-norm GQA with a query width (4 x 16) wider than hidden.
    "qwen3": dict(GQA, qk_layernorm=True, rotary_base=1000000, norm_epsilon=1e-6, seed=2301),
    # Mixtral: GQA, softmax top-2 over raw logits, aux loss + z-loss, SwiGLU experts.
    "mixtral": dict(GQA, **MIXTRAL, moe_z_loss_coeff=1e-3, seed=2302),
    # Capacity 1.0 (cap = 8 rows per expert for 32 tokens x top-2 / 8), drop by probability,
    # every expert padded to exactly cap rows.
    "mixtral_capacity": dict(MIXTRAL, moe_expert_capacity_factor=1.0, moe_token_drop_policy="probs",
                             moe_pad_expert_input_to_capacity=True, seed=2303),
    # Capacity 1.25 (cap = 10), drop the latest tokens (Megatron token order), no padding.
    "mixtral_capacity_position": dict(MIXTRAL, moe_expert_capacity_factor=1.25,
                                      moe_token_drop_policy="position", seed=2304),
    # GeLU experts, sigmoid router without bias (normalised over the top-2), top-k scaling,
    # a gated shared expert.
    "moe_gelu": dict(swiglu=False, num_experts=8, moe_layer_freq=[1, 1], moe_router_topk=2,
                     moe_ffn_hidden_size=16, moe_router_score_function="sigmoid",
                     moe_router_topk_scaling_factor=1.5, moe_shared_expert_intermediate_size=16,
                     moe_shared_expert_gate=True, moe_aux_loss_coeff=1e-2, seed=2305),
    # Two micro-batches: the 1/M scaling of every attached loss and global_aux_loss's running
    # count; all three load-balancing types at once with a coefficient list, plus z-loss.
    "moe_grad_accum": dict(MIXTRAL, global_batch_size=4,
                           moe_router_load_balancing_type=["aux_loss", "seq_aux_loss", "global_aux_loss"],
                           moe_aux_loss_coeff=[1e-2, 5e-3, 2e-2], moe_z_loss_coeff=1e-3, seed=2306),
    # DeepSeek-V2-Lite shape: MLA without q-LoRA (plain RoPE on the decoupled part, but the
    # softmax scale still carries mscale_all_dim's factor), first layer dense, pre-softmax top-3
    # of 8 (not renormalised), 2 shared experts' worth of shared FFN, seq_aux_loss.
    "deepseek_v2_lite": dict(MLA, rope_type="rope", mscale=0.707, mscale_all_dim=0.707,
                             num_experts=8, moe_layer_freq=[0, 1], moe_router_topk=3,
                             moe_ffn_hidden_size=16, moe_router_pre_softmax=True,
                             moe_shared_expert_intermediate_size=32,
                             moe_router_load_balancing_type="seq_aux_loss", moe_aux_loss_coeff=1e-2,
                             moe_router_topk_scaling_factor=1.0, seed=2307),
    # DeepSeek-V3 shape: q-LoRA MLA with YaRN (mscale != mscale_all_dim so both factors show),
    # first layer dense, sigmoid router with expert bias and its update, group-limited top-2
    # (2 groups of 4, best 1 group), top-k scaling 2.5, one shared expert, seq_aux_loss, one MTP
    # layer (an MoE layer, as the decoder's last).
    "deepseek_v3": dict(MLA, rope_type="yarn", q_lora_rank=16, mscale=1.0, mscale_all_dim=0.8,
                        original_max_position_embeddings=4096, beta_fast=32.0, beta_slow=1.0,
                        ffn_hidden_size=32, num_experts=8, moe_layer_freq=[0, 1], moe_router_topk=2,
                        moe_ffn_hidden_size=8, moe_router_score_function="sigmoid",
                        moe_router_enable_expert_bias=True, moe_router_bias_update_rate=1e-2,
                        moe_router_num_groups=2, moe_router_group_topk=1,
                        moe_router_topk_scaling_factor=2.5, moe_shared_expert_intermediate_size=8,
                        moe_router_load_balancing_type="seq_aux_loss", moe_aux_loss_coeff=1e-2,
                        mtp_num_layers=1, mtp_loss_scaling_factor=0.3, seed=2308),
    # Qwen3-MoE shape: qk-norm GQA, 16 experts top-8 with softmax over the selected 8
    # (= normalised top-k probabilities), no shared expert, global_aux_loss.
    "qwen3_moe": dict(GQA, num_query_groups=1, qk_layernorm=True, rotary_base=1000000, norm_epsilon=1e-6, num_experts=16,
                      moe_layer_freq=[1, 1], moe_router_topk=8, moe_ffn_hidden_size=8,
                      moe_router_load_balancing_type="global_aux_loss", moe_aux_loss_coeff=1e-2,
                      seed=2309),
    # bf16 Mixtral: expected values from the bf16-operand emulation (llama_reference.py; the
    # router GEMM rounds its operands but keeps the fp32 output gradient, moe_router_dtype fp32).
    "moe_bf16": dict(MIXTRAL, bf16=True, moe_z_loss_coeff=1e-3, seed=2310),
}


def case_config(name):
    cfg = dict(dense.BASE)
    cfg.update(DECODER_DEFAULTS)
    cfg.update(CASES[name])
    cfg.setdefault("group_query_attention", cfg["num_query_groups"] < cfg["num_attention_heads"])
    if cfg["multi_latent_attention"]:
        cfg["num_query_groups"] = cfg["num_attention_heads"]
    return dict(sorted(cfg.items()))


def model_config(cfg):
    fields = dr.DecoderConfig.__dataclass_fields__
    return dr.DecoderConfig(**{k: v for k, v in cfg.items() if k in fields})


def init_weights(mcfg, cfg, rng):
    std = cfg["init_method_std"]
    out_std = std / math.sqrt(2 * mcfg.num_layers)
    weights = {}
    for name, shape in dr.parameter_shapes(mcfg).items():
        if name.endswith(".bias"):
            w = rng.normal(0.0, dense.BIAS_STD, shape)
        elif len(shape) == 1:
            w = 1.0 + rng.normal(0.0, dense.NORM_WEIGHT_STD, shape)
        elif name.endswith("linear_proj.weight") or name.endswith("linear_fc2.weight"):
            w = rng.normal(0.0, out_std, shape)
        else:
            w = rng.normal(0.0, std, shape)
        weights[name] = w.astype(np.float32)
    for name, shape in dr.buffer_shapes(mcfg).items():
        weights[name] = rng.normal(0.0, EXPERT_BIAS_STD, shape).astype(np.float32)
    return weights


def training_args(cfg):
    return dict(steps=cfg["steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                betas=(cfg["adam_beta1"], cfg["adam_beta2"]), eps=cfg["adam_eps"],
                clip_grad=cfg["clip_grad"], micro_batch_size=cfg["micro_batch_size"])


class Recorder:
    """observe() callback of dr.train: smallest routing margin and the routing per step."""

    def __init__(self):
        self.margins = []  # smallest margin of each step
        self.routing = []

    def __call__(self, step, report):
        ids = []
        smallest = math.inf
        for micro in report["micro"]:
            for rec in micro["records"].values():
                smallest = min([smallest] + list(rec["margins"].values()))
                ids.append(torch.cat([rec["idx"], rec["kept"].long()], -1))
        self.margins.append(smallest)
        self.routing.append(ids)

    def robust(self, bf16):
        if bf16:
            return self.margins[0] >= BF16_STEP0_MARGIN
        return min(self.margins) >= MARGIN

    @property
    def min_margin(self):
        return min(self.margins)


def choose_clip(cfg, mcfg, weights, batch):
    """As make_model_fixtures.choose_clip, with this reference's train()."""
    args = dict(training_args(cfg), clip_grad=math.inf)
    _, norms, _, _ = dr.train(mcfg, weights, *batch, **args)
    norms = sorted(norms)
    mids = [float(f"{(a + b) / 2:.3g}") for a, b in zip(norms, norms[1:])]
    middle = (len(mids) - 1) / 2
    for clip in [mids[i] for i in sorted(range(len(mids)), key=lambda i: abs(i - middle))]:
        _, got, _, _ = dr.train(mcfg, weights, *batch, **dict(args, clip_grad=clip))
        clipped = sum(n > clip for n in got)
        if 2 <= clipped <= len(got) - 2 and min(abs(n - clip) / clip for n in got) >= 0.01:
            return clip
    return None


def draw_case(name):
    """Weights, batch and clip_grad of the first seed whose float64 trajectory keeps every
    routing decision at least MARGIN away from a tie."""
    base = case_config(name)
    for attempt in range(40):
        cfg = dict(base, seed=base["seed"] + 1000 * attempt)
        mcfg = model_config(cfg)
        rng = np.random.default_rng(cfg["seed"])
        weights = init_weights(mcfg, cfg, rng)
        batch = dense.make_batch(cfg, rng)
        if mcfg.num_experts is not None:  # cheap pre-check of step 0
            rec = Recorder()
            dr.train(mcfg, weights, *batch, **dict(training_args(cfg), steps=1, clip_grad=math.inf),
                     observe=rec)
            if not rec.robust(False) or not rec.robust(mcfg.bf16):
                continue
        cfg["clip_grad"] = choose_clip(cfg, mcfg, weights, batch)
        if cfg["clip_grad"] is None:
            continue
        rec = Recorder()
        dr.train(mcfg, weights, *batch, **training_args(cfg), observe=rec)
        if rec.robust(mcfg.bf16):
            return cfg, mcfg, weights, batch, rec
    raise SystemExit(f"{name}: no seed gives routing margins >= {MARGIN}")


def batch_first_rows(idx, s, b):
    """Megatron-order rows (position * b + sample) -> batch-first rows (sample * s + position)."""
    return idx.view(s, b, -1).transpose(0, 1).reshape(s * b, -1)


def layer_key(prefix):
    return prefix[: -len(".mlp")]


def routing_tensors(mcfg, cfg, report):
    """routing./probs./kept./tokens_per_expert./aux. tensors from step 0's report."""
    s, mbs = cfg["seq_length"], cfg["micro_batch_size"]
    out = {}
    for prefix in dr.moe_layer_prefixes(mcfg):
        key = layer_key(prefix)
        recs = [m["records"][prefix] for m in report["micro"]]
        out["routing." + key] = torch.cat([batch_first_rows(r["idx"], s, mbs) for r in recs]).to(torch.int32).numpy()
        out["probs." + key] = dense.f32(torch.cat([batch_first_rows(r["probs"], s, mbs) for r in recs]))
        if mcfg.moe_expert_capacity_factor is not None:
            out["kept." + key] = torch.cat([batch_first_rows(r["kept"].long(), s, mbs) for r in recs]).to(torch.int32).numpy()
        out["tokens_per_expert." + key] = sum(r["tokens_per_expert"] for r in recs).to(torch.int32).numpy()
        for kind in recs[0]["losses"]:
            out[f"aux.{key}.{kind}"] = np.array([float(r["losses"][kind]) for r in recs], np.float32)
    for k in range(mcfg.mtp_num_layers or 0):
        out[f"mtp_loss.{k + 1}"] = np.array([float(m["mtp_losses"][k]) for m in report["micro"]], np.float32)
    for name, v in report["log"].items():
        out["log." + name] = np.array(v, np.float32)
    return out


def router_grad_share(cfg, mcfg, weights, batch, res):
    """Relative L2 change of the router gradients when the aux/z coefficients are zeroed."""
    if mcfg.num_experts is None or not (any(mcfg.aux_loss_coeff(t) for t in dr.LOAD_BALANCING_TYPES)
                                        or mcfg.moe_z_loss_coeff):
        return None
    plain = model_config(dict(cfg, moe_aux_loss_coeff=[0.0] * len(mcfg.load_balancing_types)
                              if isinstance(cfg["moe_aux_loss_coeff"], list) else 0.0,
                              moe_z_loss_coeff=None))
    res0, _ = dr.loss_and_grads(plain, weights, *batch, micro_batch_size=cfg["micro_batch_size"])
    keys = [k for k in res if k.endswith("router.weight")]
    return min(dense.rel_l2(res0[k].numpy(), res[k].numpy()) for k in keys)


def bias_effect(cfg, mcfg, weights, batch):
    """(pairs whose selection the initial bias changes at step 0, step objectives' largest
    relative change when the bias update is switched off)."""
    if not mcfg.moe_router_enable_expert_bias:
        return None
    zero = {k: (np.zeros_like(v) if k.endswith("expert_bias") else v) for k, v in weights.items()}
    a, b = Recorder(), Recorder()
    args = dict(training_args(cfg), steps=1)
    dr.train(mcfg, weights, *batch, **args, observe=a)
    dr.train(mcfg, zero, *batch, **args, observe=b)
    changed = sum(int((x[:, :mcfg.moe_router_topk].sort(-1).values != y[:, :mcfg.moe_router_topk].sort(-1).values).any(-1).sum())
                  for x, y in zip(a.routing[0], b.routing[0]))
    with_update, _, _, _ = dr.train(mcfg, weights, *batch, **training_args(cfg))
    frozen, _, _, _ = dr.train(model_config(dict(cfg, moe_router_bias_update_rate=0.0)), weights, *batch,
                               **training_args(cfg))
    return changed, max(abs(x - y) / abs(y) for x, y in zip(with_update, frozen))


def make_case(name):
    cfg, mcfg, weights, batch, rec64 = draw_case(name)
    mbs = cfg["micro_batch_size"]
    res, report = dr.loss_and_grads(mcfg, weights, *batch, micro_batch_size=mbs)
    objectives, norms, lm_losses, biases = dr.train(mcfg, weights, *batch, **training_args(cfg))
    assert abs(objectives[0] - float(res["loss"])) <= 1e-12 * abs(objectives[0])

    # float32 run of the same reference: the floor an exact fp32 implementation reaches.
    res32, _ = dr.loss_and_grads(mcfg, weights, *batch, dtype=torch.float32, micro_batch_size=mbs)
    rec32 = Recorder()
    obj32, _, _, _ = dr.train(mcfg, weights, *batch, dtype=torch.float32, observe=rec32, **training_args(cfg))
    steps_checked = 1 if mcfg.bf16 else len(rec64.routing)
    same_routing = all(torch.equal(a, b) for x, y in zip(rec64.routing[:steps_checked], rec32.routing)
                       for a, b in zip(x, y))
    if not same_routing:
        raise SystemExit(f"{name}: the float32 run routes differently")
    fp32_err = dict(
        loss=abs(float(res32["loss"]) - float(res["loss"])) / abs(float(res["loss"])),
        grad=max(dense.rel_l2(res32[k].numpy(), res[k].numpy()) for k in res if k.startswith("grad.")),
        steps=max(abs(a - b) / abs(b) for a, b in zip(obj32, objectives)),
    )

    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    meta = {"generator": GENERATOR}
    safetensors_file.save(os.path.join(folder, "weights.safetensors"), weights, meta)
    tokens, labels, mask = batch
    safetensors_file.save(os.path.join(folder, "batch.safetensors"),
                          {"tokens": tokens, "labels": labels, "loss_mask": mask}, meta)
    expected = {k: dense.f32(v) for k, v in res.items()}
    expected["step_losses"] = np.array(objectives, dtype=np.float32)
    expected["step_lm_losses"] = np.array(lm_losses, dtype=np.float32)
    expected["step_grad_norms"] = np.array(norms, dtype=np.float32)
    expected.update(routing_tensors(mcfg, cfg, report))
    for bname, traj in biases.items():
        expected["expert_bias." + layer_key(bname[: -len(".router.expert_bias")])] = dense.f32(traj)
    safetensors_file.save(os.path.join(folder, "expected.safetensors"), expected,
                          dict(meta, precision="float64 reference rounded to float32" +
                               ("; bf16 GEMM operands emulated" if mcfg.bf16 else "")))

    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    clipped = sum(n > cfg["clip_grad"] for n in norms)
    extra = []
    share = router_grad_share(cfg, mcfg, weights, batch, res)
    if share is not None:
        extra.append(f"aux share of router grad {share:.1e}")
    if mcfg.moe_expert_capacity_factor is not None:
        kept = sum(int(m["records"][p]["kept"].sum()) for m in report["micro"] for p in m["records"])
        total = sum(m["records"][p]["kept"].numel() for m in report["micro"] for p in m["records"])
        extra.append(f"dropped {total - kept}/{total} pairs")
    if mcfg.bf16:  # how far the emulation is from fp32 maths (cf. the dense bf16 case)
        exact, _ = dr.loss_and_grads(model_config(dict(cfg, bf16=False)), weights, *batch, micro_batch_size=mbs)
        extra.append("bf16 emulation vs fp32 maths: loss %.1e grad %.1e" % (
            abs(float(exact["loss"]) - float(res["loss"])) / float(exact["loss"]),
            max(dense.rel_l2(res[k].numpy(), exact[k].numpy()) for k in res if k.startswith("grad."))))
    effect = bias_effect(cfg, mcfg, weights, batch)
    if effect is not None:
        extra.append(f"bias changes {effect[0]} selections, its update moves step losses {effect[1]:.1e}")
    margin = rec64.margins[0] if mcfg.bf16 else rec64.min_margin
    print(f"{name:26s} seed {cfg['seed']} loss {float(res['loss']):.6f} -> {objectives[-1]:.6f}  "
          f"clipped {clipped}/{len(norms)}  min margin {margin:.1e}{' (step 0)' if mcfg.bf16 else ''}  "
          f"fp32-vs-fp64: loss {fp32_err['loss']:.1e} grad {fp32_err['grad']:.1e} "
          f"steps {fp32_err['steps']:.1e}  {size / 1024:.0f} KB" + ("  [" + "; ".join(extra) + "]" if extra else ""))


def main():
    torch.set_num_threads(1)
    import check_decoder_reference
    check_decoder_reference.run_all()
    os.makedirs(OUT, exist_ok=True)
    for name in sys.argv[1:] or list(CASES):
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
        make_case(name)


if __name__ == "__main__":
    main()
