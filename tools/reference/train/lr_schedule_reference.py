#!/usr/bin/env python3
"""Reference values for Megatron's learning-rate and weight-decay schedules.

Implements megatron-formats.md §5 directly in plain Python (math only), independently of the
C++ scheduler in src/train/lr_scheduler.cpp, and writes the values the C++ test compares against:

    /usr/bin/python3 tools/reference/train/lr_schedule_reference.py \
        > tests/train/fixtures/lr_schedule.json

Cross-check (done once, not part of the build): feeding these cases to upstream Megatron-LM's
megatron/core/optimizer_param_scheduler.py (NVIDIA main, Aug 2026) reproduces every lr and
weight-decay value in the fixture exactly.

Each case lists the Megatron arguments that matter and a table of
[samples consumed, learning rate, weight decay].  Steps are counted in samples: iteration i of
an iteration-based run sits at i * global_batch_size.
"""

import json
import math
import sys


def schedule_lengths(a):
    """(warmup, decay, wsd, wd_steps) in samples, as §5 defines them."""
    if a.get("train_iters"):
        gbs = a["global_batch_size"]
        decay = (a.get("lr_decay_iters") or a["train_iters"]) * gbs
        wd_steps = a["train_iters"] * gbs
        wsd = a["lr_wsd_decay_iters"] * gbs if a.get("lr_wsd_decay_iters") is not None else None
        if a.get("lr_warmup_fraction") is not None:
            warmup = a["lr_warmup_fraction"] * decay
        else:
            warmup = a.get("lr_warmup_iters", 0) * gbs
    else:
        decay = a.get("lr_decay_samples") or a["train_samples"]
        wd_steps = a["train_samples"]
        wsd = a.get("lr_wsd_decay_samples")
        if a.get("lr_warmup_fraction") is not None:
            warmup = a["lr_warmup_fraction"] * decay
        else:
            warmup = a.get("lr_warmup_samples", 0)
    return warmup, decay, wsd, wd_steps


def learning_rate(a, n):
    warmup, decay, wsd, _ = schedule_lengths(a)
    top = a["lr"]
    floor = a.get("min_lr", 0.0)
    start = a.get("lr_warmup_init", 0.0)
    style = a.get("lr_decay_style", "linear")

    if warmup > 0 and n <= warmup:                      # rule 1
        return start + (top - start) * n / warmup
    if style == "constant":                              # rule 2
        return top
    if n > decay:                                        # rule 3
        return floor
    if style == "inverse-square-root":                   # rule 4
        return max(floor, top * math.sqrt(max(warmup, 1)) / math.sqrt(max(n, 1)))
    r = (n - warmup) / (decay - warmup)                  # rule 5
    if style == "linear":
        c = 1.0 - r
    elif style == "cosine":
        c = 0.5 * (math.cos(math.pi * r) + 1.0)
    elif style == "WSD":
        stable_until = decay - wsd
        if n <= stable_until:
            c = 1.0
        else:
            rho = (n - stable_until) / wsd
            kind = a.get("lr_wsd_decay_style", "exponential")
            c = {
                "linear": lambda: 1.0 - rho,
                "cosine": lambda: 0.5 * (math.cos(math.pi * rho) + 1.0),
                "exponential": lambda: 2.0 * 0.5 ** rho - 1.0,
                "minus_sqrt": lambda: 1.0 - math.sqrt(rho),
            }[kind]()
    else:
        raise ValueError(style)
    return floor + c * (top - floor)


def weight_decay(a, n):
    _, _, _, steps = schedule_lengths(a)
    style = a.get("weight_decay_incr_style", "constant")
    wd = a.get("weight_decay", 0.01)
    if style == "constant":
        return wd
    lo = a.get("start_weight_decay")
    hi = a.get("end_weight_decay")
    lo = wd if lo is None else lo
    hi = wd if hi is None else hi
    if n > steps:
        return hi
    r = n / steps
    c = r if style == "linear" else 0.5 * (math.cos(math.pi * (1.0 - r)) + 1.0)
    return lo + c * (hi - lo)


def points_for(a):
    if a.get("train_iters"):
        gbs = a["global_batch_size"]
        iters = list(range(0, a["train_iters"] + 4))
        samples = [i * gbs for i in iters]
        samples += [gbs // 2 + 1, 3 * gbs - 1, 3 * gbs + 1]     # off the iteration grid too
    else:
        total = a["train_samples"]
        samples = sorted(set(list(range(0, total + 40, 7)) + [1, total - 1, total, total + 1]))
    return sorted(set(samples))


BASE = {"lr": 3.0e-4, "min_lr": 3.0e-5, "global_batch_size": 8, "train_iters": 40, "weight_decay": 0.1}


def case(name, **over):
    a = dict(BASE)
    a.update(over)
    return name, a


CASES = [
    case("constant_no_warmup", lr_decay_style="constant"),
    case("constant_warmup", lr_decay_style="constant", lr_warmup_iters=5, lr_warmup_init=1.0e-6),
    case("linear_no_warmup", lr_decay_style="linear"),
    case("linear_warmup", lr_decay_style="linear", lr_warmup_iters=4),
    case("linear_decay_iters", lr_decay_style="linear", lr_warmup_iters=3, lr_decay_iters=25),
    case("cosine_warmup", lr_decay_style="cosine", lr_warmup_iters=6, lr_warmup_init=3.0e-6),
    case("cosine_warmup_fraction", lr_decay_style="cosine", lr_warmup_fraction=0.13, lr_decay_iters=30),
    case("cosine_min_lr_zero", lr_decay_style="cosine", min_lr=0.0, lr_warmup_iters=2),
    case("inverse_square_root", lr_decay_style="inverse-square-root", lr_warmup_iters=5, min_lr=1.0e-5),
    case("inverse_square_root_no_warmup", lr_decay_style="inverse-square-root", min_lr=0.0),
    case("inverse_square_root_floor", lr_decay_style="inverse-square-root", lr_warmup_iters=1, min_lr=2.0e-4),
    case("wsd_exponential", lr_decay_style="WSD", lr_wsd_decay_style="exponential",
         lr_warmup_iters=4, lr_wsd_decay_iters=12),
    case("wsd_linear", lr_decay_style="WSD", lr_wsd_decay_style="linear", lr_warmup_iters=4, lr_wsd_decay_iters=10),
    case("wsd_cosine", lr_decay_style="WSD", lr_wsd_decay_style="cosine", lr_warmup_iters=2,
         lr_wsd_decay_iters=15, lr_decay_iters=35),
    case("wsd_minus_sqrt", lr_decay_style="WSD", lr_wsd_decay_style="minus_sqrt", lr_wsd_decay_iters=9),
    case("wd_linear", lr_decay_style="cosine", lr_warmup_iters=4, weight_decay_incr_style="linear",
         start_weight_decay=0.01, end_weight_decay=0.1),
    case("wd_cosine", lr_decay_style="linear", weight_decay_incr_style="cosine",
         start_weight_decay=0.0, end_weight_decay=0.05),
    case("wd_linear_default_end", lr_decay_style="linear", weight_decay_incr_style="linear",
         start_weight_decay=0.02),
    case("samples_cosine", lr_decay_style="cosine", train_iters=None, train_samples=300,
         lr_warmup_samples=37, lr_decay_samples=250, weight_decay_incr_style="linear",
         start_weight_decay=0.0, end_weight_decay=0.1),
    case("samples_wsd_fraction", lr_decay_style="WSD", lr_wsd_decay_style="cosine", train_iters=None,
         train_samples=200, lr_warmup_fraction=0.1, lr_wsd_decay_samples=61),
]


def main():
    out = {"generator": "tools/reference/train/lr_schedule_reference.py", "cases": []}
    for name, a in CASES:
        args = {k: v for k, v in a.items() if v is not None}
        pts = [[n, learning_rate(a, n), weight_decay(a, n)] for n in points_for(a)]
        out["cases"].append({"name": name, "args": args, "points": pts})
    # One case header per line and one point per line: reviewable diffs, exact floats (repr).
    w = sys.stdout.write
    w('{"generator": %s,\n "cases": [\n' % json.dumps(out["generator"]))
    for i, c in enumerate(out["cases"]):
        w('  {"name": %s, "args": %s, "points": [\n' % (json.dumps(c["name"]), json.dumps(c["args"], sort_keys=True)))
        w(",\n".join("   " + json.dumps(p) for p in c["points"]))
        w("]}%s\n" % ("," if i + 1 < len(out["cases"]) else ""))
    w(" ]}\n")


if __name__ == "__main__":
    main()
