// Python pickles as torch.save writes them (protocol 2), both ways, with no code execution.
//
// A pickle is a program for a stack machine whose "call" instructions (REDUCE, NEWOBJ, BUILD)
// run arbitrary Python in pickle.load — the reason torch.load of an untrusted file is dangerous.
// PickleReader never calls anything: it builds a tree of PyValues, keeping a call as data (the
// callable's module and name, its arguments, its state), and it refuses the file outright when a
// callable comes from outside an allowlist of modules that torch checkpoints use (torch,
// collections, argparse, numpy, _codecs, megatron, transformer_engine, enum, and builtins'
// harmless containers): "refusing 'os.system': a checkpoint holds tensors and plain values".
// Of those calls, three are interpreted: torch._utils._rebuild_tensor_v2 / _rebuild_parameter
// (a tensor view of a storage), collections.OrderedDict (a dict) and argparse.Namespace (its
// attributes as a dict); torch dtypes and Megatron enums stay symbols.
//
// PickleWriter emits the subset torch.save uses for a state dict: None, bool, int, float, str,
// tuples, lists, dicts (also as collections.OrderedDict), argparse.Namespace, and tensors as
// _rebuild_tensor_v2 over persistent storages ("storage", torch.<Type>Storage, key, "cpu", n).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace primus::checkpoint::megatron {

struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;

// A tensor of a torch archive: a strided view of storage `key` (archive/data/<key>).
struct TensorRef {
  std::string key;
  std::string storage_type;  // "FloatStorage", "BFloat16Storage", ...
  std::int64_t storage_numel = 0;
  std::int64_t offset = 0;   // elements
  std::vector<std::int64_t> size, stride;
};

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Tensor, Global, Call };
  Kind kind = Kind::None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  std::string s;                                   // Str, Bytes; Global: "module.name"
  std::vector<PyPtr> items;                        // Tuple, List; Call: [callable, args, state?]
  std::vector<std::pair<PyPtr, PyPtr>> dict;       // Dict (insertion order)
  TensorRef tensor;
  bool ordered = false;                            // Dict written as collections.OrderedDict
  bool namespace_ = false;                         // Dict that is an argparse.Namespace

  // Dict lookup by string key; nullptr when absent or not a dict.
  const PyValue* get(const std::string& key) const;
  std::string describe() const;  // short, for messages
};

PyPtr py_none();
PyPtr py_bool(bool v);
PyPtr py_int(std::int64_t v);
PyPtr py_float(double v);
PyPtr py_str(std::string v);
PyPtr py_dict(bool ordered = false);
PyPtr py_list();
PyPtr py_tensor(TensorRef t);
void py_set(PyValue& dict, const std::string& key, PyPtr value);

// Parses `data`; `where` names the file in messages. Throws primus::Error.
PyPtr read_pickle(const std::string& data, const std::string& where);
// Serialises a value tree (protocol 2).
std::string write_pickle(const PyValue& root);

}  // namespace primus::checkpoint::megatron
