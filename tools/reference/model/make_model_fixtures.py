#!/usr/bin/python3
"""Writes the engine's fidelity fixtures, tests/fixtures/model/<case>/ (run with /usr/bin/python3,
which has torch 1.13 and numpy 1.24):

  config.json          model + training hyper-parameters under Megatron argument names (plus
                       "steps", the number of optimizer steps behind step_losses)
  weights.safetensors  the initial parameters, F32, Megatron-Core names and shapes
  batch.safetensors    tokens [b, s] I32, labels [b, s] I32, loss_mask [b, s] F32, where
                       b = global_batch_size: micro-batch k is rows k*m .. k*m+m-1 for
                       m = micro_batch_size (one micro-batch except in grad_accum)
  expected.safetensors the reference's answers, all F32:
      loss                  []     sum(ce * loss_mask) / sum(loss_mask) at the initial weights
                                   (per micro-batch, then averaged over micro-batches)
      losses                [b, s] per-token cross-entropy (unmasked)
      logits                [b, s, padded_vocab_size] (padded columns included: they are what
                                   the output layer computes; they only stay out of the softmax)
      act.embedding         [b, s, h] embedding output
      act.decoder.layers.i  [b, s, h] residual stream after layer i
      act.decoder.final_layernorm [b, s, h]
      grad.<param>          gradient of `loss` for every parameter, same name and shape
      step_losses           [steps] loss of each AdamW step's forward pass on the same batch
                                   (step_losses[0] == loss: the loss before any update)
      step_grad_norms       [steps] global gradient norm of each step before clipping

Choices (see README.md next to this script for the tolerances):
- Sizes: hidden 32, 2 layers, kv_channels 16, vocab 100 padded to 128, seq 16 (32 for
  rope_scaling), micro-batch 2. Hidden 64 does not fit the 300 KB per case budget (weights and
  gradients are both stored in F32), and the engine's attention needs head_dim % 16 == 0, so
  heads are 16 wide: 2 heads where q width equals hidden, and the GQA case uses 4 query heads in
  2 groups with kv_channels 16, i.e. a query width 64 != hidden 32 (Megatron allows that; the
  projection is [h, n*d]).
- Initialisation (seeded numpy Generator per case): weights normal(0, init_method_std),
  linear_proj and linear_fc2 normal(0, init_method_std / sqrt(2 * num_layers)) as Megatron.
  init_method_std is 0.2 rather than Megatron's 0.02 so that attention is far from uniform and
  activations are far from linear (at 0.02 the logits of a 32-wide model are nearly constant and
  many bugs would hide). Norm weights are 1 + normal(0, 0.1) and every bias normal(0, 0.1)
  instead of 1 and 0: the fixture tests the computation from given weights, and a forward that
  forgot a norm weight or a bias would pass with the init values.
- Batch: random tokens in [0, vocab_size); labels are the next tokens (a random sequence of
  s + 1 tokens per sample); loss_mask is 1 except ~20% random zeros and the last 3 positions of
  sample 0 (in grad_accum also the first half of sample 1, so the two micro-batches have
  clearly different mask sums and per-micro-batch normalisation matters).
- Training: `steps` = 10 AdamW steps on the same batch, constant lr (lr_decay_style constant,
  lr_warmup_iters 0), decay on 2-D parameters only, Megatron's global-norm clipping; see
  llama_reference.py. clip_grad is chosen per case so that clipping is active on some steps and
  every step's norm is at least 1% away from the threshold (a 1e-6 difference in the norm can
  then not flip the decision).
- Precision: float64 reference from the float32 weights, results rounded to float32. The bf16
  case emulates bf16 GEMM operands (llama_reference.py); its expected values are that
  emulation's, not fp32's.
- The generator also checks the reference itself (check_reference.py) and prints, per case, how
  far a float32 run of the same reference lands from the float64 answer: that is the error an
  exact fp32 implementation has to be allowed, and the tolerances in README.md are set well
  above it.
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import llama_reference as ref  # noqa: E402
import safetensors_file  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "fixtures", "model"))
GENERATOR = "tools/reference/model/make_model_fixtures.py"

BASE = dict(
    num_layers=2, hidden_size=32, ffn_hidden_size=64, num_attention_heads=2, num_query_groups=2,
    kv_channels=16, vocab_size=100, padded_vocab_size=128, make_vocab_size_divisible_by=128,
    seq_length=16, max_position_embeddings=16, micro_batch_size=2, global_batch_size=2,
    normalization="RMSNorm", norm_epsilon=1e-5, swiglu=True, add_bias_linear=False,
    add_qkv_bias=False, qk_layernorm=False, untie_embeddings_and_output_weights=True,
    position_embedding_type="rope", rotary_base=10000, rotary_percent=1.0, use_rope_scaling=False,
    rope_scaling_factor=8.0, attention_dropout=0.0, hidden_dropout=0.0,
    init_method_std=0.2, optimizer="adam", lr=1e-3, min_lr=1e-3, lr_decay_style="constant",
    lr_warmup_iters=0, weight_decay=0.1, adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-8,
    clip_grad=None, bf16=False, train_iters=10, steps=10, seed=1234,
)

CASES = {
    "mha": dict(),
    "gqa": dict(num_attention_heads=4, num_query_groups=2, group_query_attention=True, seed=1235),
    "tied": dict(untie_embeddings_and_output_weights=False, seed=1236),
    "qkv_bias_qk_norm": dict(add_qkv_bias=True, qk_layernorm=True, seed=1237),
    "rope_scaling": dict(use_rope_scaling=True, rotary_base=500000, seq_length=32,
                         max_position_embeddings=32, seed=1238),
    "layernorm_gelu_bias": dict(normalization="LayerNorm", swiglu=False, add_bias_linear=True,
                                rotary_percent=0.5, seed=1239),
    "bf16": dict(bf16=True, seed=1240),
    "grad_accum": dict(global_batch_size=4, seed=1241),
}

NORM_WEIGHT_STD = 0.1
BIAS_STD = 0.1
MASKED_FRACTION = 0.2


def case_config(name):
    cfg = dict(BASE)
    cfg.update(CASES[name])
    cfg.setdefault("group_query_attention", cfg["num_query_groups"] < cfg["num_attention_heads"])
    return dict(sorted(cfg.items()))


def model_config(cfg):
    fields = ref.ModelConfig.__dataclass_fields__
    return ref.ModelConfig(**{k: v for k, v in cfg.items() if k in fields})


def init_weights(mcfg, cfg, rng):
    std = cfg["init_method_std"]
    out_std = std / math.sqrt(2 * mcfg.num_layers)
    weights = {}
    for name, shape in ref.parameter_shapes(mcfg).items():
        if name.endswith(".bias"):
            w = rng.normal(0.0, BIAS_STD, shape)
        elif len(shape) == 1:  # norm weights
            w = 1.0 + rng.normal(0.0, NORM_WEIGHT_STD, shape)
        elif name.endswith("linear_proj.weight") or name.endswith("linear_fc2.weight"):
            w = rng.normal(0.0, out_std, shape)
        else:
            w = rng.normal(0.0, std, shape)
        weights[name] = w.astype(np.float32)
    return weights


def make_batch(cfg, rng):
    b, s, v = cfg["global_batch_size"], cfg["seq_length"], cfg["vocab_size"]
    seq = rng.integers(0, v, size=(b, s + 1))
    tokens = seq[:, :-1].astype(np.int32)
    labels = seq[:, 1:].astype(np.int32)
    mask = (rng.random((b, s)) >= MASKED_FRACTION).astype(np.float32)
    mask[0, -3:] = 0.0
    if b > cfg["micro_batch_size"]:
        # Unequal mask sums per micro-batch, so that normalising per micro-batch differs from
        # normalising over the global batch.
        mask[1, :s // 2] = 0.0
    for i in range(0, b, cfg["micro_batch_size"]):
        assert mask[i:i + cfg["micro_batch_size"]].sum() > 0
    return tokens, labels, mask


def f32(t):
    return np.array(t.detach().cpu().numpy(), dtype=np.float32, order="C")


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else float(np.linalg.norm(a))


def training_args(cfg):
    return dict(steps=cfg["steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                betas=(cfg["adam_beta1"], cfg["adam_beta2"]), eps=cfg["adam_eps"],
                clip_grad=cfg["clip_grad"], micro_batch_size=cfg["micro_batch_size"])


def choose_clip(cfg, mcfg, weights, batch):
    """A clip_grad that clips some steps and not others, with every step's norm at least 1%
    away from it: candidates are the midpoints between the norms of an unclipped run, tried
    from the median outwards (3 significant digits), each verified by a clipped run."""
    args = dict(training_args(cfg), clip_grad=math.inf)
    _, norms = ref.train(mcfg, weights, *batch, **args)
    norms = sorted(norms)
    mids = [float(f"{(a + b) / 2:.3g}") for a, b in zip(norms, norms[1:])]
    middle = (len(mids) - 1) / 2
    for clip in [mids[i] for i in sorted(range(len(mids)), key=lambda i: abs(i - middle))]:
        _, got = ref.train(mcfg, weights, *batch, **dict(args, clip_grad=clip))
        clipped = sum(n > clip for n in got)
        if 2 <= clipped <= len(got) - 2 and min(abs(n - clip) / clip for n in got) >= 0.01:
            return clip
    raise SystemExit(f"no clip_grad gives a 1% margin for norms {norms}")


def make_case(name):
    cfg = case_config(name)
    mcfg = model_config(cfg)
    rng = np.random.default_rng(cfg["seed"])
    weights = init_weights(mcfg, cfg, rng)
    tokens, labels, mask = make_batch(cfg, rng)
    cfg["clip_grad"] = choose_clip(cfg, mcfg, weights, (tokens, labels, mask))

    mbs = cfg["micro_batch_size"]
    res = ref.loss_and_grads(mcfg, weights, tokens, labels, mask, dtype=torch.float64,
                             micro_batch_size=mbs)
    step_losses, step_norms = ref.train(mcfg, weights, tokens, labels, mask,
                                        dtype=torch.float64, **training_args(cfg))
    assert abs(step_losses[0] - float(res["loss"])) <= 1e-12 * abs(step_losses[0])
    margins = [abs(n - cfg["clip_grad"]) / cfg["clip_grad"] for n in step_norms]
    if min(margins) < 0.01:
        raise SystemExit(f"{name}: a gradient norm is within 1% of clip_grad {cfg['clip_grad']}: "
                         f"{step_norms}; pick another clip_grad")

    # What an exact float32 implementation of the same maths lands at (informational).
    res32 = ref.loss_and_grads(mcfg, weights, tokens, labels, mask, dtype=torch.float32,
                               micro_batch_size=mbs)
    losses32, _ = ref.train(mcfg, weights, tokens, labels, mask, dtype=torch.float32,
                            **training_args(cfg))
    fp32_err = dict(
        loss=abs(float(res32["loss"]) - float(res["loss"])) / abs(float(res["loss"])),
        grad=max(rel_l2(res32[k].numpy(), res[k].numpy()) for k in res if k.startswith("grad.")),
        steps=max(abs(a - b) / abs(b) for a, b in zip(losses32, step_losses)),
    )

    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    meta = {"generator": GENERATOR}
    safetensors_file.save(os.path.join(folder, "weights.safetensors"), weights, meta)
    safetensors_file.save(os.path.join(folder, "batch.safetensors"),
                          {"tokens": tokens, "labels": labels, "loss_mask": mask}, meta)
    expected = {k: f32(v) for k, v in res.items()}
    expected["step_losses"] = np.array(step_losses, dtype=np.float32)
    expected["step_grad_norms"] = np.array(step_norms, dtype=np.float32)
    safetensors_file.save(
        os.path.join(folder, "expected.safetensors"), expected,
        dict(meta, precision="float64 reference rounded to float32" +
             ("; bf16 GEMM operands emulated" if mcfg.bf16 else "")))

    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    clipped = sum(n > cfg["clip_grad"] for n in step_norms)
    print(f"{name:20s} loss {float(res['loss']):.6f} -> {step_losses[-1]:.6f}  "
          f"grad norm {step_norms[0]:.3f} (clipped {clipped}/{len(step_norms)})  "
          f"fp32-vs-fp64: loss {fp32_err['loss']:.1e} grad {fp32_err['grad']:.1e} "
          f"steps {fp32_err['steps']:.1e}  {size / 1024:.0f} KB")
    return res, weights, (tokens, labels, mask)


def bf16_vs_fp32():
    """How far the bf16 emulation is from fp32 maths on the bf16 case (for README.md)."""
    with open(os.path.join(OUT, "bf16", "config.json")) as f:
        cfg = json.load(f)
    mcfg = model_config(cfg)
    rng = np.random.default_rng(cfg["seed"])
    weights = init_weights(mcfg, cfg, rng)
    batch = make_batch(cfg, rng)
    mcfg_fp32 = model_config(dict(cfg, bf16=False))
    a = ref.loss_and_grads(mcfg, weights, *batch)
    b = ref.loss_and_grads(mcfg_fp32, weights, *batch)
    la, _ = ref.train(mcfg, weights, *batch, **training_args(cfg))
    lb, _ = ref.train(mcfg_fp32, weights, *batch, **training_args(cfg))
    grad = max(rel_l2(a[k].numpy(), b[k].numpy()) for k in a if k.startswith("grad."))
    print(f"bf16 emulation vs fp32 maths: loss {abs(float(a['loss']) - float(b['loss'])) / float(b['loss']):.1e}"
          f"  grad (max rel L2) {grad:.1e}"
          f"  steps {max(abs(x - y) / y for x, y in zip(la, lb)):.1e}")


def format_check_file():
    """tests/fixtures/model/python_writer_check.safetensors: every dtype, a scalar, an empty
    tensor, UTF-8 names and metadata, written by safetensors_file.py; tests/io checks the values
    the C++ reader gets."""
    tensors = {
        "f32": (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.25 - 1.0),
        "u8": np.array([0, 1, 255], dtype=np.uint8),
        "bf16": ("BF16", safetensors_file.bf16_bits(np.array([1.0, -2.0, 0.5, 3.140625], np.float32))),
        "f16": np.array([1.0, -0.5, 65504.0, 2.0 ** -14, 2.0 ** -24, np.inf], dtype=np.float16),
        "f64": np.array([1.0 / 3.0], dtype=np.float64),
        "i64": np.array([-1, 2 ** 40], dtype=np.int64),
        "i32": (np.arange(6, dtype=np.int32) - 3).reshape(2, 3),
        "i16": np.array([-32768, 32767], dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((2, 0), dtype=np.float32),
        "layers.0.d\u00e9cor\u00fc": np.array([7.0], dtype=np.float32),
    }
    path = os.path.join(OUT, "python_writer_check.safetensors")
    safetensors_file.save(path, tensors, {"format": "pt", "writer": "safetensors_file.py"})
    back, meta = safetensors_file.load(path)
    assert meta["format"] == "pt" and set(back) == set(tensors)
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    import check_reference
    check_reference.run_all()
    os.makedirs(OUT, exist_ok=True)
    format_check_file()
    names = sys.argv[1:] or list(CASES)
    for name in names:
        make_case(name)
    if "bf16" in names:
        bf16_vs_fp32()


if __name__ == "__main__":
    main()
