#!/usr/bin/env python3
"""Dumps every argument a Megatron-LM checkout defines, as Megatron's own argparse parser sees it.

    /usr/bin/python3 tools/codegen/dump_megatron_arguments.py MEGATRON_CHECKOUT > OUT.tsv

Megatron builds part of its parser from dataclasses (TransformerConfig, TrainingConfig, ...), so
reading arguments.py as text misses arguments; this tool imports megatron.training.arguments and
calls add_megatron_arguments (or, in older trees, intercepts parse_args) with every GPU-only
dependency (torch, Transformer Engine, triton, ...) replaced by an inert stand-in: defining the
parser needs none of them. The output (one row per flag spelling) is the fixture
tests/config/fixtures/megatron_arguments/*.tsv that the schema tests read; it is data, no code.
"""
import argparse
import enum
import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import sys
import types
import typing

# Names imported by Megatron's modules that defining the parser does not need.
STUBBED = ("torch", "packaging", "transformer_engine", "einops", "flash_attn", "apex", "nvidia_resiliency_ext",
           "tensorstore", "zarr", "wandb", "one_logger", "triton", "numpy", "pydantic", "emerging_optimizers",
           "regex", "megatron.legacy", "megatron.rl", "megatron.training.training",
           "megatron.training.initialize", "megatron.training.checkpointing")


class _Inert:
    """Anything: callable, indexable, iterable (empty), falsy, comparable."""

    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return _Inert()
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"): raise AttributeError(name)
        return _Inert()
    def __mro_entries__(self, bases): return ()
    def __iter__(self): return iter(())
    def __bool__(self): return False
    def __len__(self): return 0
    def __index__(self): return 0
    def __int__(self): return 0
    def __float__(self): return 0.0
    def __hash__(self): return 0
    def __eq__(self, other): return False
    def __lt__(self, other): return False
    def __gt__(self, other): return False
    def __le__(self, other): return True
    def __ge__(self, other): return True
    def __getitem__(self, key): return _Inert()
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def __repr__(self): return "<stub>"
    __or__ = __ror__ = __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = \
        lambda self, other: _Inert()
    def __neg__(self): return _Inert()


class _InertModule(types.ModuleType):
    def __getattr__(self, name):
        if name == "__version__": return "99.0.0"
        if name.startswith("__") and name.endswith("__"): raise AttributeError(name)
        return _Inert()


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if any(name == s or name.startswith(s + ".") for s in STUBBED):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _InertModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module): pass


def build_parser(checkout):
    sys.path.insert(0, checkout)
    sys.meta_path.insert(0, _StubFinder())
    if not hasattr(typing, "override"):
        typing.override = lambda f: f  # Python < 3.12
    real_version = importlib.metadata.version

    def version(name):
        try:
            return real_version(name)
        except Exception:
            return "99.0.0"
    importlib.metadata.version = version
    import megatron.training.arguments as arguments
    if hasattr(arguments, "add_megatron_arguments"):
        parser = argparse.ArgumentParser(allow_abbrev=False)
        arguments.add_megatron_arguments(parser)
        return parser

    class Captured(Exception): pass

    def capture(self, *a, **k): raise Captured(self)
    argparse.ArgumentParser.parse_args = capture
    argparse.ArgumentParser.parse_known_args = capture
    try:
        arguments.parse_args()
    except Captured as c:
        return c.args[0]
    raise SystemExit("could not capture Megatron's parser")


def literal(value):
    if isinstance(value, enum.Enum): return json.dumps(value.name)
    try:
        return json.dumps(value)
    except TypeError:
        return json.dumps(repr(value))


def main():
    parser = build_parser(sys.argv[1])
    group_of = {id(a): g.title for g in parser._action_groups for a in g._group_actions}
    print("flag\tdest\taction\ttype\tnargs\tdefault\tchoices\tgroup")
    for a in parser._actions:
        if not a.option_strings or isinstance(a, argparse._HelpAction): continue
        action = {argparse._StoreTrueAction: "store_true", argparse._StoreFalseAction: "store_false",
                  argparse.BooleanOptionalAction: "bool_optional"}.get(type(a), "store")
        kind = getattr(a.type, "__name__", "") if a.type else ""
        choices = ",".join(c.name if isinstance(c, enum.Enum) else str(c) for c in a.choices) if a.choices else ""
        for flag in a.option_strings:
            print("\t".join([flag, a.dest, action, kind, "" if a.nargs is None else str(a.nargs), literal(a.default),
                             choices, group_of.get(id(a)) or ""]))


if __name__ == "__main__":
    main()
