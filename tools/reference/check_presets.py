#!/usr/bin/python3
"""Cross-check the model presets and example experiments against the key schema and
against upstream Primus.

  check_presets.py                      key check + resolve every example
  check_presets.py --upstream MIRROR    also resolve the 17 upstream examples with upstream's
                                        presets (MIRROR = a checkout or bare git dir of
                                        AMD-AIG-AIMA/Primus) and diff them with
                                        tests/config/fixtures/upstream_expected.yaml

A small stand-in for the C++ resolver (bases/extends, ${VAR:default}, number coercion,
deep merge); it exists to catch typos in the YAML, not to define behaviour.
Needs PyYAML; exits 0 with a note when it is missing.
"""
import argparse, ast, os, re, subprocess, sys

try:
    import yaml
except ImportError:
    print("check_presets: PyYAML not importable, skipped")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.environ.get("PRIMUS_REFERENCE", "/work/shared/reference")
PRESETS = os.path.join(ROOT, "primus/configs/models/megatron")
EXAMPLES = os.path.join(ROOT, "examples/megatron/configs")
FIXTURE = os.path.join(ROOT, "tests/config/fixtures/upstream_expected.yaml")
UPSTREAM_EXAMPLES = os.environ.get("PRIMUS_UPSTREAM_EXAMPLES",
                                   "/work/shared/upstream-primus/examples/megatron/configs")
STRUCTURE = {"bases", "extends"}
NUM = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def py_literal(text):
    text = text.strip()
    if text in ("", "None"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return coerce(text)


def coerce(v):
    if isinstance(v, str):
        if NUM.match(v):
            return float(v) if any(c in v for c in ".eE") else int(v)
        low = v.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("null", "none", "~"):
            return None
    return v


def subst(text):
    def one(m):
        if m.group(1) in os.environ:
            return os.environ[m.group(1)]
        if m.group(2) is None:
            raise SystemExit("required variable ${%s} is not set" % m.group(1))
        return m.group(2)
    return VAR.sub(one, text)


def walk(v):
    if isinstance(v, dict):
        return {k: walk(x) for k, x in v.items()}
    if isinstance(v, list):
        return [walk(x) for x in v]
    return coerce(v)


def load_text(text):
    return walk(yaml.safe_load(subst(text)) or {})


def schema():
    keys = {}
    with open(os.path.join(ROOT, "src/config/arguments.tsv")) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(head, line.rstrip("\n").split("\t")))
            d = row["primus_default"] if row.get("primus_default") else row["megatron_default"]
            keys[row["key"]] = py_literal(d)
    ref = set()
    for name, col in (("megatron-args.tsv", 1), ("primus-trainer-defaults.tsv", 0)):
        path = os.path.join(REF, name)
        if os.path.exists(path):
            with open(path) as f:
                next(f)
                ref.update(l.split("\t")[col] for l in f)
    return keys, ref


def upstream_defaults():
    d = {}
    with open(os.path.join(REF, "megatron-args.tsv")) as f:
        next(f)
        for l in f:
            c = l.rstrip("\n").split("\t")
            d.setdefault(c[1], py_literal(c[3]))
    with open(os.path.join(REF, "primus-trainer-defaults.tsv")) as f:
        next(f)
        for l in f:
            c = l.rstrip("\n").split("\t")
            d[c[0]] = py_literal(c[1])
    return d


def deep_merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_preset(name, read, skip=("language_model.yaml",), stack=()):
    if name in stack:
        raise SystemExit("cycle: " + " -> ".join(stack + (name,)))
    if name in skip:
        return {}, []
    data = load_text(read(name))
    out, files = {}, []
    for base in data.pop("bases", []) + data.pop("extends", []):
        sub, f = resolve_preset(base, read, skip, stack + (name,))
        out, files = deep_merge(out, sub), files + f
    return deep_merge(out, data), files + [(name, data)]


def experiment(path):
    with open(path) as f:
        exp = load_text(f.read())
    mod = exp["modules"]["pre_trainer"] if "modules" in exp else exp
    return exp, mod["model"], mod.get("overrides") or {}


def resolve(path, read, defaults, skip):
    exp, model, over = experiment(path)
    cfg, files = resolve_preset(model, read, skip)
    return deep_merge(deep_merge(defaults, cfg), over), files, over


def check_keys(keys, ref, where, data):
    bad = 0
    for k in data:
        if k in STRUCTURE:
            continue
        if k not in keys:
            print("%s: '%s' not in src/config/arguments.tsv" % (where, k)); bad += 1
        elif ref and k not in ref:
            print("%s: '%s' not in the reference tables" % (where, k)); bad += 1
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", help="AMD-AIG-AIMA/Primus checkout or bare git dir")
    ap.add_argument("--commit", default="HEAD")
    args = ap.parse_args()
    keys, ref = schema()
    ours = {k: v for k, v in keys.items()}
    lm = os.path.join(PRESETS, "language_model.yaml")
    if os.path.exists(lm):
        with open(lm) as f:
            ours = deep_merge(ours, load_text(f.read()))
    read_ours = lambda n: open(os.path.join(PRESETS, n)).read()
    bad = 0
    for n in sorted(os.listdir(PRESETS)):
        if n.endswith(".yaml") and n != "language_model.yaml":
            _, files = resolve_preset(n, read_ours)
            bad += check_keys(keys, ref, n, files[-1][1])
    for n in sorted(os.listdir(EXAMPLES)):
        if n.endswith(".yaml"):
            cfg, _, over = resolve(os.path.join(EXAMPLES, n), read_ours, ours, ())
            bad += check_keys(keys, ref, n, over)
            for k in ("seq_length", "max_position_embeddings", "num_layers", "hidden_size"):
                if cfg.get(k) is None:
                    print("%s: %s unresolved" % (n, k)); bad += 1
            if cfg["seq_length"] > cfg["max_position_embeddings"]:
                print("%s: seq_length > max_position_embeddings" % n); bad += 1
    if args.upstream:
        bad += compare_upstream(args, ours, read_ours)
    print("check_presets: %s" % ("OK" if not bad else "%d problem(s)" % bad))
    return 1 if bad else 0


def compare_upstream(args, ours, read_ours):
    def read_up(n):
        rel = "primus/configs/models/megatron/" + n
        if os.path.isdir(os.path.join(args.upstream, "primus")):
            return open(os.path.join(args.upstream, rel)).read()
        return subprocess.check_output(["git", "--git-dir", args.upstream, "show",
                                        "%s:%s" % (args.commit, rel)], text=True)
    with open(FIXTURE) as f:
        fixture = yaml.safe_load(f)
    up_defaults, bad = upstream_defaults(), 0
    for n in sorted(os.listdir(UPSTREAM_EXAMPLES)):
        p = os.path.join(UPSTREAM_EXAMPLES, n)
        up, _, _ = resolve(p, read_up, up_defaults, ("language_model.yaml",))
        me, _, _ = resolve(p, read_ours, ours, ())
        want = fixture.get(n)
        if want is None:
            print("fixture lacks %s" % n); bad += 1; continue
        for k, v in want.items():
            v = coerce(v)
            if me.get(k) != v:
                print("%s: %s ours=%r fixture=%r" % (n, k, me.get(k), v)); bad += 1
            if up.get(k) != v:
                print("%s: %s upstream=%r fixture=%r (deliberate?)" % (n, k, up.get(k), v))
    return bad


if __name__ == "__main__":
    sys.exit(main())
