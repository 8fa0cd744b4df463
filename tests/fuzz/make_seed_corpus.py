#!/usr/bin/python3
"""Writes the seed corpus of the libFuzzer targets into tests/fuzz/corpus/<target>/ (committed).

Seeds are small, valid inputs of each reader — the fuzzer mutates from there: experiment files
in every form, a few with command-line tokens, indexed datasets of every dtype (from
tests/fixtures/data), tokenizer.json files cut down from the real Llama 2 / Mixtral and Llama 3
tokenizers (scripts/fetch_assets.sh puts those in assets/hf_home) plus hand-written ones for the
other pipeline pieces, safetensors files (tests/fixtures/model and hand-made) and .npy index files.
Run from anywhere with /usr/bin/python3; deterministic.
"""
import hashlib
import json
import pathlib
import struct

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "tests/fuzz/corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def experiments():
    tiny = "model: tiny_llama.yaml\noverrides:\n  train_iters: 10\n  micro_batch_size: 1\n  global_batch_size: 2\n" \
           "  seq_length: 64\n  lr: 1.0e-3\n  min_lr: 1.0e-4\n  mock_data: true\n"
    seeds = [
        tiny,
        "work_group: amd\nuser_name: me\nexp_name: x\nworkspace: ./output\nmodules:\n  pre_trainer:\n"
        "    framework: megatron\n    config: pre_trainer.yaml\n    model: tiny_qwen.yaml\n    overrides:\n"
        "      train_iters: 5\n      lr: 3.0e-4\n      tensor_model_parallel_size: 1\n      split: 98,2,0\n",
        "num_layers: 2\nhidden_size: 64\nnum_attention_heads: 4\nseq_length: 32\nmax_position_embeddings: 32\n"
        "micro_batch_size: 2\ntrain_iters: 3\nlr: 0.001\nmock_data: true\nswiglu: true\n",
        "model: tiny_mixtral.yaml\noverrides:\n  moe_layer_freq: ([0]*1+[1]*3)\n  expert_model_parallel_size: 2\n"
        "  data_path: [0.3, /data/a_text_document, 0.7, /data/b_text_document]\n",
        "model: tiny_llama.yaml\noverrides:\n  seed: ${SEED:1234}\n  lr: &lr 1e-5\n  min_lr: *lr\n"
        "  lr_decay_style: cosine\n  eval_interval: 5\n  eval_iters: 2\n",
        "bases: [tiny_llama.yaml]\nextends: []\nrotary_base: 10000\nnorm_epsilon: 1.0e-6\n"
        "decoder_pipeline_manual_split_list: [1, 2]\n",
        "a: &a [x, y]\nb: [*a, *a]\nc: {d: 1, e: [1, 2, {f: g}]}\n'quoted key': \"v\\n\"\n? complex\n: value\n",
    ]
    for s in seeds:
        put("yaml_reader", s)
        put("config_resolve", s)
    for cli in ["--lr\n3e-4\n--world-size\n", "world=8\n--tensor-model-parallel-size\n2\n--bf16\n",
                "--megatron-args\n--num-layers\n4\n--disable-bias-linear\n--data-path\n0.5\na\n0.5\nb\n",
                "--eval_interval\n0\n--eval_iters\n1\n", "world=99999999999\n--micro-batch-size\n1024\n"]:
        put("config_resolve", tiny + "\n--- cli\n" + cli)


def idx_datasets():
    fixtures = REPO / "tests/fixtures/data"
    for idx in sorted(fixtures.glob("*.idx")):
        bin_ = idx.with_suffix(".bin").read_bytes()
        if len(idx.read_bytes()) + len(bin_) <= 32768:
            put("idx_reader", idx.read_bytes() + b"BIN:" + bin_)
    # One hand-made: 3 sequences, 2 documents, int32.
    lengths = [2, 0, 3]
    header = b"MMIDIDX\x00\x00" + struct.pack("<QB", 1, 4) + struct.pack("<QQ", 3, 3)
    body = struct.pack("<3i", *lengths) + struct.pack("<3q", 0, 8, 8) + struct.pack("<3q", 0, 1, 3)
    put("idx_reader", header + body + b"BIN:" + struct.pack("<5i", 1, 2, 3, 4, 5))


def cut_tokenizer(path, keep):
    t = json.loads(pathlib.Path(path).read_text())
    model = t["model"]
    vocab = {k: v for k, v in model["vocab"].items() if v < keep}
    merges = []
    for m in model["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
        if len(merges) >= 150:
            break
    model["vocab"], model["merges"] = vocab, merges
    t["added_tokens"] = t["added_tokens"][:8]
    return json.dumps(t, ensure_ascii=False)


def tokenizers():
    texts = ["Hello world", "  leading spaces and 123456 digits", "caf\u00e9 \u4e2d\u6587 \U0001F600", "<s>x</s>\n\ty"]
    hub = REPO / "assets/hf_home/hub"
    for name, keep in [("models--mistralai--Mixtral-8x7B-v0.1", 400), ("models--meta-llama--Llama-3.1-8B", 400)]:
        found = sorted(hub.glob(name + "/snapshots/*/tokenizer.json"))
        if not found:
            raise SystemExit(f"{name}: run scripts/fetch_assets.sh first")
        j = cut_tokenizer(found[0], keep)
        for text in texts:
            put("tokenizer_json", j + "\n--- text\n" + text)
    # Hand-written pipelines for the pieces the two real ones do not use.
    vocab = {c: i for i, c in enumerate(["<unk>", "a", "b", "c", "ab", "abc", "\u2581", "\u2581a", "1", "2", "12"])}
    pieces = [
        ({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                              {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]},
         {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True}]},
         {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}),
        ({"type": "NFD"},
         {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
         {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}),
        (None,
         {"type": "Split", "pattern": {"String": "b"}, "behavior": "MergedWithPrevious", "invert": False},
         {"type": "ByteFallback"}),
        ({"type": "NFC"}, {"type": "Whitespace"}, None),
    ]
    for normalizer, pre, decoder in pieces:
        t = {"version": "1.0", "truncation": None, "padding": None,
             "added_tokens": [{"id": 11, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
                               "normalized": False, "special": True}],
             "normalizer": normalizer, "pre_tokenizer": pre,
             "post_processor": {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                "special_tokens": {"<s>": {"id": "<s>", "ids": [11], "tokens": ["<s>"]}}},
             "decoder": decoder,
             "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                       "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": False,
                       "vocab": vocab, "merges": ["a b", "ab c", "\u2581 a", "1 2"]}}
        for text in texts[:2]:
            put("tokenizer_json", json.dumps(t, ensure_ascii=False) + "\n--- text\n" + text)


def safetensors_file(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    put("safetensors_reader", safetensors_file({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                                "ids": ("I32", [3], struct.pack("<3i", 7, 8, 9)),
                                                "h": ("BF16", [2], b"\x80\x3f\x00\x40"),
                                                "e": ("F32", [0, 3], b"")}, {"format": "pt"}))
    put("safetensors_reader", safetensors_file({"x": ("F64", [1], struct.pack("<d", 0.5)), "y": ("U8", [3], b"abc"),
                                                "z": ("F16", [1], b"\x00\x3c"), "s": ("I64", [], struct.pack("<q", 5))}))
    put("safetensors_reader", safetensors_file({}, {"only": "metadata"}))
    put("safetensors_reader", safetensors_file({"a.weight": ("F32", [1, 3], struct.pack("<3f", 0.5, -1, 2)),
                                                "a.bias": ("BF16", [3], b"\x00\x00\x80\x3f\x00\xc0")}))
    small = REPO / "tests/fixtures/model/python_writer_check.safetensors"
    if small.stat().st_size <= 65536:
        put("safetensors_reader", small.read_bytes())


def npy(descr, shape, raw):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    total = 10 + len(d) + 1
    d += " " * (-total % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + raw


def npy_files():
    put("npy_reader", npy("<i4", [4], struct.pack("<4i", 0, 1, 2, 3)))
    put("npy_reader", npy("<i8", [3, 2], struct.pack("<6q", 0, 0, 1, 5, 2, 9)))
    put("npy_reader", npy("<u4", [2], struct.pack("<2I", 1, 0)))
    put("npy_reader", npy("<i2", [0], b""))


def checkpoint_metadata():
    """metadata.json of a checkpoint folder whose data file is the target's fixed
    model_00000.safetensors: "a" F32 [4, 3] (bytes 0-48) and "b" F32 [5] (48-68)."""
    f = {"name": "model_00000.safetensors", "bytes": 8 + 112 + 68, "crc32c": "00000000"}
    a_whole = {"shape": [4, 3], "dtype": "F32",
               "pieces": [{"file": f["name"], "key": "a", "rows": [[0, 4]], "cols": [0, 3]}]}
    a_split = {"shape": [8, 3], "dtype": "F32",
               "pieces": [{"file": f["name"], "key": "a", "rows": [[0, 4]], "cols": [0, 3]},
                          {"file": f["name"], "key": "a", "rows": [[4, 8]], "cols": [0, 3]}]}
    b = {"shape": [5], "dtype": "F32", "pieces": [{"file": f["name"], "key": "b", "rows": [[0, 5]], "cols": [0, 1]}]}
    b_cols = {"shape": [2, 6], "dtype": "F32",
              "pieces": [{"file": f["name"], "key": "a", "rows": [[0, 2]], "cols": [0, 3]},
                         {"file": f["name"], "key": "a", "rows": [[0, 2]], "cols": [3, 6]}]}
    state = {"training": {"iteration": 10, "consumed_train_samples": 40}, "layout": {"tp": 1, "pp": 1}}
    for tensors in ({"a": a_whole, "b": b}, {"a": a_split}, {"w": b_cols}, {"b": b}):
        put("checkpoint_metadata", json.dumps({"format": "primus-checkpoint", "version": 1, "iteration": 10,
                                                "state": state, "files": [f], "tensors": tensors}, indent=1))
    put("checkpoint_metadata", json.dumps({"format": "primus-checkpoint", "version": 1, "iteration": 0,
                                            "state": {}, "files": [], "tensors": {}}))


def torch_checkpoints():
    """torch.save files as Megatron-LM writes them (Debian's python3-torch): a state dict with
    an args Namespace, nested dicts, an OrderedDict model, fp32/bf16 tensors, views and None."""
    import argparse
    import collections
    import io
    import torch
    torch.manual_seed(0)
    w = torch.randn(4, 6)
    model = collections.OrderedDict()
    model["embedding.word_embeddings.weight"] = w
    model["decoder.layers.0.self_attention.linear_proj.weight"] = w[:, 2:5]  # a strided view
    model["decoder.final_layernorm.weight"] = torch.ones(6, dtype=torch.bfloat16)
    model["decoder.layers.0.self_attention.linear_proj._extra_state"] = None
    args = argparse.Namespace(num_layers=1, hidden_size=6, tensor_model_parallel_size=1, bf16=True, lr=1e-3)
    for obj in ({"model": model, "args": args, "iteration": 10, "checkpoint_version": 3.0},
                {"model": {"x": torch.arange(5, dtype=torch.float64)}},
                {"model": collections.OrderedDict(), "rng_state": [{"random_rng_state": (3, (1, 2), None)}]},
                [1, 2.5, "s", b"b", (True, None)]):
        buf = io.BytesIO()
        torch.save(obj, buf)
        put("torch_checkpoint", buf.getvalue())


if __name__ == "__main__":
    experiments()
    idx_datasets()
    tokenizers()
    safetensors()
    npy_files()
    checkpoint_metadata()
    torch_checkpoints()
