#!/usr/bin/env python3
"""Bootstrap of src/config/arguments.tsv — the one table every argument lives in.

Run once from the upstream facts in ../shared/reference (megatron-args.tsv: every Megatron-LM
argument; primus-trainer-defaults.tsv: upstream Primus' defaults). Since then the table is edited
by hand (the `effect` and `note` columns above all); generate_schema.py turns it into the C++
schema and the trainer YAML files. Re-running this script overwrites hand edits: only do it to
re-import a newer Megatron argument list, then re-apply the diff.
"""
import ast
import csv
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
REF = REPO.parent / "shared" / "reference"

# Keys the engine acts on — uses, or rejects with a clear error where a value asks for a feature
# it does not have. The rest are accepted and listed as having no effect here.
ENGINE_KEYS = set("""
num_layers hidden_size ffn_hidden_size num_attention_heads num_query_groups group_query_attention
kv_channels max_position_embeddings position_embedding_type add_position_embedding rotary_base
rotary_percent use_rope_scaling rope_scaling_factor rotary_interleaved normalization norm_epsilon
swiglu add_bias_linear add_qkv_bias qk_layernorm untie_embeddings_and_output_weights init_method_std
vocab_size padded_vocab_size make_vocab_size_divisible_by attention_dropout hidden_dropout
apply_residual_connection_post_layernorm num_experts multi_latent_attention
micro_batch_size global_batch_size train_iters train_samples seq_length lr min_lr lr_decay_style
lr_decay_iters lr_decay_samples lr_warmup_iters lr_warmup_fraction lr_warmup_samples lr_warmup_init
lr_wsd_decay_style lr_wsd_decay_iters lr_wsd_decay_samples weight_decay start_weight_decay
end_weight_decay weight_decay_incr_style adam_beta1 adam_beta2 adam_eps sgd_momentum optimizer
clip_grad bf16 fp16 seed check_for_nan_in_loss_and_grad recompute_granularity recompute_method
recompute_num_layers recompute_activations exit_interval eval_interval eval_iters log_interval
use_rotary_position_embeddings
mock_data data_path split train_data_path valid_data_path test_data_path data_cache_path
tokenizer_type tokenizer_model eod_mask_loss reset_position_ids
tensor_model_parallel_size pipeline_model_parallel_size context_parallel_size expert_model_parallel_size
expert_tensor_parallel_size sequence_parallel num_layers_per_virtual_pipeline_stage
decoder_first_pipeline_num_layers decoder_last_pipeline_num_layers
num_virtual_stages_per_pipeline_rank decoder_pipeline_manual_split_list
log_avg_skip_iterations log_avg_reset_interval stderr_sink_level file_sink_level sink_level
""".split())

# Primus accepts its model-family tokenizer names on top of Megatron's choices.
EXTRA_CHOICES = {
    "tokenizer_type": ("Llama3Tokenizer,Llama4Tokenizer,MixtralTokenizer,DeepSeekV2Tokenizer,"
                       "DeepSeekV3Tokenizer,Qwen2Tokenizer",
                       "Primus adds its model-family tokenizer names (Llama3Tokenizer, ...) to Megatron's choices"),
}

# Megatron-only expressions in defaults/choices, spelled out as values.
EXPR_DEFAULTS = {
    "attention_backend": ("'auto'", "flash,fused,unfused,local,auto"),
    "inprocess_active_world_size": ("null", None),
    "timing_log_level": (None, "0,1,2"),
    "dist_ckpt_strictness": (None, "assume_ok_unexpected,log_unexpected,log_all,raise_unexpected,"
                             "raise_all,return_unexpected,return_all,ignore_all"),
    "initial_loss_scale": ("4294967296.0", None),
    "local_rank": ("0", None),
}

# Primus-only keys that are not upstream defaults but experiment fields of ours.
EXPERIMENT_KEYS = [
    ("work_group", "str", "'amd'", "experiment", "run folder: workspace/work_group/user_name/exp_name"),
    ("user_name", "str", "'root'", "experiment", "run folder: workspace/work_group/user_name/exp_name"),
    ("exp_name", "str", "'primus-experiment'", "experiment", "run folder: workspace/work_group/user_name/exp_name"),
    ("workspace", "str", "'./output'", "experiment", "run folder: workspace/work_group/user_name/exp_name"),
]
PRIMUS_TYPES = {
    "decoder_pipeline_manual_split_list": "int_list",
    "use_rocm_mem_info_iters": "int_list",
    "sink_level": "str",
    "s3_cache_path": "str",
    "pipeline_model_parallel_split_rank": "int",
}


def yaml_literal(py):
    """Python literal text -> YAML flow literal text."""
    py = py.strip()
    if py in ("None", ""):
        return "null"
    value = ast.literal_eval(py)
    return to_yaml(value)


def to_yaml(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    raise ValueError(value)


def same_value(a, b, type_):
    """Equal as the resolver sees them: 4294967296 == 4294967296.0, 'p2p' == ['p2p'] for lists."""
    import yaml_flow
    va, vb = yaml_flow.parse(a), yaml_flow.parse(b)
    if type_.endswith("_list"):
        va = va if isinstance(va, list) or va is None else [va]
        vb = vb if isinstance(vb, list) or vb is None else [vb]
    return va == vb


def our_type(megatron_type):
    t = megatron_type
    if t.startswith("bool"):
        return "bool"
    if t in ("int", "float", "str"):
        return t
    if t.endswith("nargs=+") or t.endswith("nargs=*"):
        return t.split()[0] + "_list"
    if t in ("moe_freq_type", "no_rope_freq_type"):
        return "layer_freq"
    if t == "tuple_type":
        return "int_list"
    if t.startswith("lambda"):
        return "str"
    if t == "type":
        return "str"
    raise ValueError(t)


def main():
    rows = {}
    order = []
    with open(REF / "megatron-args.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            dest, flag, t = r["dest"], r["flag"], r["type"]
            default, choices = r["default"], r["choices"]
            if dest in EXPR_DEFAULTS:
                d, c = EXPR_DEFAULTS[dest]
                default = d if d is not None else yaml_literal(default)
                choices = c if c is not None else choices
            else:
                default = yaml_literal(default)
            suffix = {"bool(store_true)": "=true", "bool(store_false)": "=false"}.get(t, "")
            spelled = [f + suffix for f in flag.split("|")]
            if dest not in rows:
                order.append(dest)
                rows[dest] = dict(key=dest, type=our_type(t), megatron_default=default,
                                  primus_default="", primus_file="", flags=list(spelled),
                                  choices=choices, range="", group=r["group"], origin="megatron",
                                  effect="none", note="")
            else:
                rows[dest]["flags"].extend(spelled)
    with open(REF / "primus-trainer-defaults.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key, value, where = r["key"], yaml_literal(r["upstream_default"]), r["defined_in"]
            place = "model" if where.startswith("language_model") else "trainer"
            if key in rows:
                row = rows[key]
                if not same_value(value, row["megatron_default"], row["type"]):
                    row["primus_default"], row["primus_file"] = value, place
            else:
                t = PRIMUS_TYPES.get(key)
                if t is None:
                    v = ast.literal_eval(r["upstream_default"])
                    t = {bool: "bool", int: "int", float: "float", str: "str"}[type(v)]
                order.append(key)
                rows[key] = dict(key=key, type=t, megatron_default="", primus_default=value,
                                 primus_file=place, flags=[], choices="", range="", group="primus",
                                 origin="primus", effect="none", note="")
    for key, t, d, group, note in EXPERIMENT_KEYS:
        order.append(key)
        rows[key] = dict(key=key, type=t, megatron_default="", primus_default=d,
                         primus_file="experiment", flags=[], choices="", range="", group=group,
                         origin="primus", effect="engine", note=note)
    for key in ENGINE_KEYS:
        rows[key]["effect"] = "engine"
    for key, (extra, note) in EXTRA_CHOICES.items():
        rows[key]["choices"] += "," + extra
        rows[key]["note"] = note
    out = REPO / "src" / "config" / "arguments.tsv"
    cols = ["key", "type", "megatron_default", "primus_default", "primus_file", "flags",
            "choices", "range", "group", "origin", "effect", "note"]
    with open(out, "w") as f:
        f.write("\t".join(cols) + "\n")
        for key in order:
            row = dict(rows[key])
            row["flags"] = ",".join(row["flags"])
            f.write("\t".join(row[c] for c in cols) + "\n")
    print(f"wrote {out}: {len(order)} keys", file=sys.stderr)


if __name__ == "__main__":
    main()
