#!/usr/bin/python3
"""What upstream Primus' own loader gives for each example experiment of today's Primus, computed
from upstream's files by upstream's documented merge rules — independently of our resolver.

    /usr/bin/python3 tools/reference/upstream_2026_expected.py UPSTREAM_DIR --output expected.json

UPSTREAM_DIR is ../shared/upstream-primus-2026 (AMD-AGI/Primus at fd1eeab): its
examples/megatron/configs/**.yaml, primus/configs/models/megatron and modules/megatron. The rules,
as upstream's code implements them (primus/core/config/yaml_loader.py, merge_utils.py,
primus/core/launcher/parser.py, primus/core/utils/yaml_utils.py):

  1. A YAML file is read with PyYAML's safe loader; every string value's ${VAR} / ${VAR:default} is
     replaced (no variable is set here, so each takes its default; a required one is an error),
     and a replaced string that reads as true/false, an integer or a float becomes that value.
  2. `extends:` (a list or a single name) merges the named files, relative to the file, deeply and
     in order, the file itself last.
  3. An experiment's module (pre_trainer, else post_trainer) loads its `config` from
     primus/configs/modules/megatron and its `model` from primus/configs/models/megatron (each with
     rule 2); the model's keys are added to the module config except those the module config
     already has (merge_namespace(..., allow_override=False)); the module's `overrides` then merge
     deeply on top, a string "null" becoming null. Top-level keys outside the module are not read.

Deliberate differences of ours (docs/deviations.md), applied on top and reported per key:
  - a model preset's value beats the trainer module's for the same key (upstream silently drops
    the preset's seq_length / make_vocab_size_divisible_by / enable_experimental there);
  - the corrected presets (Qwen2.5 QKV bias, Qwen3 family base, Llama 3.1/3.2 RoPE scaling and tied
    embeddings, Qwen2.5-3B / Qwen3-4B tied embeddings, Llama 3.2 tokenizer ids and context);
  - a preset's `bases:` is read like `extends:` (upstream today reads only extends:, so it drops
    those presets' parents);
  - Megatron-LM's newer dest names are aliases of the key Primus writes (layernorm_epsilon ->
    norm_epsilon; when a file sets both, Megatron reads layernorm_epsilon, and so do we).

For each experiment: the smallest world size its parallel layout allows, and either the expected
value of every key, or the reason it cannot run (Megatron rejects its layout, it is a diffusion
model, it is not an experiment, it is a template).
"""
import copy
import json
import os
import re
import sys

try:
    import yaml  # Debian's python3-yaml (scripts/setup.sh)
except ImportError:
    yaml = None

ENV = re.compile(r"\$\{([^:{}]+)(?::([^}]*))?}")
FLOAT = re.compile(r"^-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)$")

# upstream's primus/configs/modules/module_base.yaml (trainer_base.yaml extends ../module_base.yaml;
# the shared copy holds only the megatron folder): its four keys, as facts.
MODULE_BASE = {"trainable": False, "sink_level": None, "file_sink_level": "DEBUG", "stderr_sink_level": "INFO"}

# Our corrections of upstream's presets: values a preset gets before its own keys (a family base
# upstream lacks) and after them (keys upstream has wrong).
QWEN3_BASE = {"add_qkv_bias": False, "qk_layernorm": True, "kv_channels": 128, "max_position_embeddings": 40960}
BEFORE_OWN = {n: QWEN3_BASE for n in ("qwen3_4B", "qwen3_8B", "qwen3_14B", "qwen3_32B", "qwen3_30B_A3B",
                                      "qwen3_235B_A22B")}
AFTER_OWN = {
    "qwen2.5_base": {"add_qkv_bias": True},
    "qwen2.5_3B": {"untie_embeddings_and_output_weights": False},
    "qwen3_4B": {"untie_embeddings_and_output_weights": False},
    "llama3.1_8B": {"use_rope_scaling": True},
    "llama3.1_70B": {"use_rope_scaling": True},
    "llama3.1_405B": {"use_rope_scaling": True},
    "llama3.3_70B": {"use_rope_scaling": True},
    "llama3.2_1B": {"tokenizer_model": "meta-llama/Llama-3.2-1B", "untie_embeddings_and_output_weights": False,
                    "use_rope_scaling": True, "rope_scaling_factor": 32.0, "max_position_embeddings": 131072},
    "llama3.2_3B": {"tokenizer_model": "meta-llama/Llama-3.2-3B", "untie_embeddings_and_output_weights": False,
                    "use_rope_scaling": True, "rope_scaling_factor": 32.0, "max_position_embeddings": 131072},
}
ALIASES = {"layernorm_epsilon": "norm_epsilon"}
MODULE_FIELDS = {"name", "framework", "config", "model", "overrides", "trainer_class", "params"}


class Refused(Exception):
    pass


def try_scalar(text):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if FLOAT.fullmatch(text):
        return float(text)
    return text


def resolve_env(obj):
    if isinstance(obj, dict):
        return {k: resolve_env(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_env(v) for v in obj]
    if isinstance(obj, str):
        def one(m):  # no variable is set: each takes its default
            if m.group(2) is None:
                raise Refused(f"environment variable {m.group(1)} is required")
            return m.group(2)
        replaced = ENV.sub(one, obj)
        return try_scalar(replaced) if replaced != obj else obj
    return obj


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for k, v in override.items():
        if k in out and isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_yaml(path, before_own=None, after_own=None, follow_bases=False):
    if not os.path.isfile(path):
        if path.endswith("module_base.yaml"):
            return dict(MODULE_BASE)
        raise Refused(f"{os.path.basename(path)} not found")
    with open(path) as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise Refused("not a mapping")
    cfg = resolve_env(cfg)
    name = os.path.basename(path)[:-5]
    ext = cfg.pop("extends", None)
    if follow_bases and ext is None:
        ext = cfg.pop("bases", None)
    merged = {}
    if ext is not None:
        for e in [ext] if isinstance(ext, str) else ext:
            merged = deep_merge(merged, parse_yaml(os.path.join(os.path.dirname(path), e), before_own, after_own,
                                                   follow_bases))
    if before_own is not None and name in before_own:
        merged = deep_merge(merged, before_own[name])
    merged = deep_merge(merged, cfg)
    if after_own is not None and name in after_own:
        merged = deep_merge(merged, after_own[name])
    return merged


def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def null_strings(v):
    return None if v == "null" else v


def smallest_world(c):
    tp = c.get("tensor_model_parallel_size") or 1
    pp = c.get("pipeline_model_parallel_size") or 1
    cp = c.get("context_parallel_size") or 1
    ep = c.get("expert_model_parallel_size") or 1
    etp = c.get("expert_tensor_parallel_size") or tp
    mbs = c.get("micro_batch_size") or 1
    gbs = c.get("global_batch_size")
    for dp in range(1, 4097):
        if (dp * cp * tp) % (ep * etp):
            continue
        if gbs is not None and gbs % (mbs * dp):
            continue
        return tp * pp * cp * dp
    raise Refused("no world size fits the layout")


def megatron_layout_refusal(c):
    """Megatron-LM's validate_args rule (d3528a2) for the pipeline split that upstream's examples
    can break: without a layout or an uneven first/last stage, the layers (plus embedding and loss
    when accounted for) must divide evenly over the pipeline stages."""
    layers, pp = c.get("num_layers"), c.get("pipeline_model_parallel_size") or 1
    if not isinstance(layers, int) or pp <= 1:
        return None
    layout = c.get("pipeline_model_parallel_layout")
    if layout:
        # Megatron-Core's PipelineParallelLayerLayout: unroll (..)*n then x*n, stages split at '|'.
        text = layout.replace(",", "")
        text = re.sub(r"\(([^)]+)\)\*(\d+)", lambda m: m.group(1) * int(m.group(2)), text)
        text = re.sub(r"(.)\*(\d+)", lambda m: m.group(1) * int(m.group(2)), text)
        mtp = c.get("mtp_num_layers") or 0
        if text.count("t") != layers:
            return f"the layout places {text.count('t')} transformer layers (t), but num_layers is {layers}"
        if text.count("m") != mtp:
            return f"the layout places {text.count('m')} MTP layers (m), but mtp_num_layers is {mtp}"
        return None
    if c.get("pipeline_model_parallel_layout") or c.get("decoder_first_pipeline_num_layers") is not None or \
            c.get("decoder_last_pipeline_num_layers") is not None or c.get("decoder_pipeline_manual_split_list"):
        return None
    counted = layers + bool(c.get("account_for_embedding_in_pipeline_split")) + \
        bool(c.get("account_for_loss_in_pipeline_split"))
    if counted % pp:
        return f"num_layers {layers} is not divisible by pipeline_model_parallel_size {pp}"
    return None


def expected_for(path, upstream):
    configs = os.path.join(upstream, "primus/configs")
    exp = parse_yaml(path)
    modules = exp.get("modules")
    if not isinstance(modules, dict):
        if "configs" in exp and "matchers" in exp:
            raise Refused("a Transformer Engine precision recipe, not an experiment")
        raise Refused("no modules")
    name = "pre_trainer" if "pre_trainer" in modules else "post_trainer"
    module = modules[name]
    if module.get("trainer_class"):
        raise Refused("trainer_class " + str(module["trainer_class"]))
    model_name = str(module["model"])
    if "<" in model_name:
        raise Refused("a template: " + model_name)
    config_name = module["config"]
    trainer = parse_yaml(os.path.join(configs, "modules/megatron", config_name))
    model_file = os.path.join(configs, "models/megatron", model_name if model_name.endswith(".yaml")
                              else model_name + ".yaml")
    upstream_model = parse_yaml(model_file)
    ours_model = parse_yaml(model_file, BEFORE_OWN, AFTER_OWN, follow_bases=True)
    # Rule 3: the module config keeps its own keys; the model adds the rest.
    merged = copy.deepcopy(trainer)
    for k, v in upstream_model.items():
        if k not in merged:
            merged[k] = v
    merged.pop("model", None)
    overrides = module.get("overrides") or {}
    merged = deep_merge(merged, overrides)
    # Upstream reads only extends: a preset's `bases:` stays a key (its parents are not merged);
    # environment variables written among the overrides reach no argument.
    upstream_values = {k: null_strings(v) for k, v in flat(merged).items()
                       if k != "bases" and not re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}

    deviations = {}
    expected = dict(upstream_values)
    flat_overrides = flat(overrides)
    flat_ours_model = flat(ours_model)
    flat_upstream_model = flat(upstream_model)
    flat_trainer = flat(trainer)
    bases_parents = "bases" in flat_upstream_model
    for k, v in flat_ours_model.items():
        if k in flat_overrides or k in ("model", "bases"):
            continue
        if bases_parents and k not in flat_upstream_model:
            if k in flat_trainer and flat_trainer[k] != v:
                expected[k] = v
                deviations[k] = "bases: is read like extends: (upstream now reads only extends:, dropping the parents)"
            continue
        if k in flat_trainer and flat_upstream_model.get(k, v) != flat_trainer[k] and k in flat_upstream_model:
            expected[k] = v
            deviations[k] = "the model preset's value wins over the trainer module's (upstream drops it)"
        elif k not in flat_upstream_model or flat_upstream_model[k] != v:
            expected[k] = v
            deviations[k] = "our correction of the preset (docs/deviations.md)"
    for alias, target in ALIASES.items():
        if alias not in expected:
            continue
        value = expected.pop(alias)
        if alias in flat_overrides or target not in flat_overrides:
            expected[target] = value
            deviations[target] = f"{alias} is an alias of {target}"
    refusal = megatron_layout_refusal(expected)
    return name, expected, deviations, refusal


def main():
    upstream = sys.argv[1]
    output = sys.argv[sys.argv.index("--output") + 1] if "--output" in sys.argv else None
    root = os.path.join(upstream, "examples/megatron/configs")
    out = []
    if yaml is None or not os.path.isdir(root):
        # Leave an empty list: the test suite then fails, naming what is missing.
        print("upstream_2026_expected: " + ("PyYAML (python3-yaml) is not installed" if yaml is None
              else root + " not found"), file=sys.stderr)
        root = None
    for dirpath, _, files in sorted(os.walk(root)) if root else []:
        for f in sorted(files):
            if not f.endswith(".yaml"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            entry = {"file": rel}
            try:
                module, expected, deviations, refusal = expected_for(path, upstream)
                entry.update(module=module, world=smallest_world(expected), expected=expected,
                             deviations=deviations)
                if refusal:
                    entry.update(status="refused", reason=refusal)
                else:
                    entry["status"] = "resolves"
            except Refused as e:
                entry.update(status="refused", reason=str(e))
            out.append(entry)
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if output:
        tmp = output + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, output)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
