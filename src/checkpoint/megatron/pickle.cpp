#include "checkpoint/megatron/pickle.hpp"

#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint::megatron {

PyPtr py_none() { return std::make_shared<PyValue>(); }
PyPtr py_bool(bool v) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Bool;
  p->b = v;
  return p;
}
PyPtr py_int(std::int64_t v) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Int;
  p->i = v;
  return p;
}
PyPtr py_float(double v) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Float;
  p->f = v;
  return p;
}
PyPtr py_str(std::string v) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Str;
  p->s = std::move(v);
  return p;
}
PyPtr py_dict(bool ordered) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Dict;
  p->ordered = ordered;
  return p;
}
PyPtr py_list() {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::List;
  return p;
}
PyPtr py_tensor(TensorRef t) {
  auto p = std::make_shared<PyValue>();
  p->kind = PyValue::Kind::Tensor;
  p->tensor = std::move(t);
  return p;
}
void py_set(PyValue& d, const std::string& key, PyPtr value) { d.dict.emplace_back(py_str(key), std::move(value)); }

const PyValue* PyValue::get(const std::string& key) const {
  if (kind != Kind::Dict) return nullptr;
  for (const auto& [k, v] : dict)
    if (k->kind == Kind::Str && k->s == key) return v.get();
  return nullptr;
}

std::string PyValue::describe() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return b ? "True" : "False";
    case Kind::Int: return std::to_string(i);
    case Kind::Float: return fmt::format("{}", f);
    case Kind::Str: return "'" + s + "'";
    case Kind::Bytes: return fmt::format("<{} bytes>", s.size());
    case Kind::Tuple: return fmt::format("<tuple of {}>", items.size());
    case Kind::List: return fmt::format("<list of {}>", items.size());
    case Kind::Dict: return fmt::format("<dict of {}>", dict.size());
    case Kind::Tensor: return "<tensor>";
    case Kind::Global: return s;
    case Kind::Call: return items.empty() ? "<call>" : items[0]->s + "(...)";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

// Modules whose names a checkpoint may mention. Nothing is ever imported or called.
bool allowed_global(const std::string& module, const std::string& name) {
  static const std::set<std::string> modules = {"torch", "collections", "argparse", "numpy", "_codecs", "enum",
                                                "megatron", "transformer_engine", "_io", "io", "pathlib", "copyreg",
                                                "__builtin__"};
  if (module == "builtins" || module == "__builtin__")
    return name == "set" || name == "frozenset" || name == "slice" || name == "complex" || name == "bytearray" ||
           name == "object" || name == "tuple" || name == "list" || name == "dict";
  const std::string root = module.substr(0, module.find('.'));
  if (!modules.count(root)) return false;
  // Within allowed packages, refuse names that evaluate or import code.
  static const std::set<std::string> never = {"eval", "exec", "system", "popen", "__import__", "getattr", "load",
                                              "loads", "import_module", "compile", "open"};
  return !never.count(name);
}

class Reader {
 public:
  Reader(const std::string& data, const std::string& where) : d_(data), where_(where) {}

  PyPtr run() {
    for (;;) {
      const unsigned char op = byte();
      switch (op) {
        case 0x80: byte(); break;                 // PROTO
        case 0x95: take(8); break;                // FRAME
        case '.': {                               // STOP
          if (stack_.size() != 1) bad("unbalanced stack at STOP");
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case 'N': push(py_none()); break;
        case 0x88: push(py_bool(true)); break;
        case 0x89: push(py_bool(false)); break;
        case 'J': push(py_int(static_cast<std::int32_t>(le(4)))); break;        // BININT
        case 'K': push(py_int(static_cast<std::int64_t>(le(1)))); break;        // BININT1
        case 'M': push(py_int(static_cast<std::int64_t>(le(2)))); break;        // BININT2
        case 0x8a: push(py_int(long_bytes(le(1)))); break;                      // LONG1
        case 0x8b: push(py_int(long_bytes(le(4)))); break;                      // LONG4
        case 'G': {                                                             // BINFLOAT (big-endian)
          std::uint64_t u = 0;
          for (int i = 0; i < 8; ++i) u = (u << 8) | byte();
          double v;
          std::memcpy(&v, &u, 8);
          push(py_float(v));
          break;
        }
        case 'X': push(py_str(take(le(4)))); break;                             // BINUNICODE
        case 0x8c: push(py_str(take(le(1)))); break;                            // SHORT_BINUNICODE
        case 0x8d: push(py_str(take(le(8)))); break;                            // BINUNICODE8
        case 'T': push(str_value(take(le(4)))); break;                          // BINSTRING (py2 str)
        case 'U': push(str_value(take(le(1)))); break;                          // SHORT_BINSTRING
        case 'B': push(bytes(take(le(4)))); break;                              // BINBYTES
        case 'C': push(bytes(take(le(1)))); break;                              // SHORT_BINBYTES
        case 0x8e: push(bytes(take(le(8)))); break;                             // BINBYTES8
        case ')': push(tuple({})); break;                                       // EMPTY_TUPLE
        case 't': push(tuple(pop_mark())); break;                               // TUPLE
        case 0x85: push(tuple(popn(1))); break;
        case 0x86: push(tuple(popn(2))); break;
        case 0x87: push(tuple(popn(3))); break;
        case ']': push(py_list()); break;                                       // EMPTY_LIST
        case 'l': {                                                             // LIST
          auto l = py_list();
          l->items = pop_mark();
          push(l);
          break;
        }
        case '}': push(py_dict()); break;                                       // EMPTY_DICT
        case 'd': {                                                             // DICT
          auto d = py_dict();
          auto items = pop_mark();
          if (items.size() % 2) bad("odd DICT");
          for (std::size_t k = 0; k < items.size(); k += 2) d->dict.emplace_back(items[k], items[k + 1]);
          push(d);
          break;
        }
        case 'a': {                                                             // APPEND
          auto v = pop();
          list_target()->items.push_back(v);
          break;
        }
        case 'e': {                                                             // APPENDS
          auto items = pop_mark();
          auto l = list_target();
          l->items.insert(l->items.end(), items.begin(), items.end());
          break;
        }
        case 's': {                                                             // SETITEM
          auto v = pop();
          auto k = pop();
          dict_target()->dict.emplace_back(k, v);
          break;
        }
        case 'u': {                                                             // SETITEMS
          auto items = pop_mark();
          if (items.size() % 2) bad("odd SETITEMS");
          auto d = dict_target();
          for (std::size_t k = 0; k < items.size(); k += 2) d->dict.emplace_back(items[k], items[k + 1]);
          break;
        }
        case 'q': memo_[le(1)] = top(); break;                                  // BINPUT
        case 'r': memo_[le(4)] = top(); break;                                  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;                          // MEMOIZE
        case 'h': push(memo(le(1))); break;                                     // BINGET
        case 'j': push(memo(le(4))); break;                                     // LONG_BINGET
        case '0': pop(); break;                                                 // POP
        case '1': pop_mark(); break;                                            // POP_MARK
        case '2': push(top()); break;                                           // DUP
        case 'c': {                                                             // GLOBAL
          const std::string module = line(), name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {                                                            // STACK_GLOBAL
          auto name = pop(), module = pop();
          if (name->kind != PyValue::Kind::Str || module->kind != PyValue::Kind::Str) bad("STACK_GLOBAL of non-strings");
          push(global(module->s, name->s));
          break;
        }
        case 'Q': {                                                             // BINPERSID
          auto pid = pop();
          push(persistent(*pid));
          break;
        }
        case 'R': {                                                             // REDUCE
          auto args = pop(), callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {                                                            // NEWOBJ
          auto args = pop(), cls = pop();
          push(call(cls, args));
          break;
        }
        case 'b': {                                                             // BUILD
          auto state = pop();
          build(top(), state);
          break;
        }
        default:
          bad(fmt::format("opcode 0x{:02x} is not one torch.save writes (refusing to interpret it)", op));
      }
    }
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail("{}: unreadable pickle at byte {}: {}", where_, at_, what);
  }
  unsigned char byte() {
    if (at_ >= d_.size()) bad("the data ends early (truncated)");
    return static_cast<unsigned char>(d_[at_++]);
  }
  std::uint64_t le(int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(byte()) << (8 * i);
    return v;
  }
  std::string take(std::uint64_t n) {
    if (n > d_.size() - at_) bad("a string runs past the end (truncated)");
    std::string s = d_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::string line() {
    const std::size_t nl = d_.find('\n', at_);
    if (nl == std::string::npos) bad("unterminated GLOBAL");
    std::string s = d_.substr(at_, nl - at_);
    at_ = nl + 1;
    return s;
  }
  std::int64_t long_bytes(std::uint64_t n) {
    if (n > 8) bad("an integer wider than 64 bits");
    const std::string b = take(n);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b.back()) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
    return static_cast<std::int64_t>(v);
  }
  static PyPtr str_value(std::string s) { return py_str(std::move(s)); }
  static PyPtr bytes(std::string s) {
    auto p = std::make_shared<PyValue>();
    p->kind = PyValue::Kind::Bytes;
    p->s = std::move(s);
    return p;
  }
  static PyPtr tuple(std::vector<PyPtr> items) {
    auto p = std::make_shared<PyValue>();
    p->kind = PyValue::Kind::Tuple;
    p->items = std::move(items);
    return p;
  }
  void push(PyPtr v) {
    if (stack_.size() > 10'000'000) bad("stack too deep");
    stack_.push_back(std::move(v));
  }
  PyPtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("pop from an empty stack");
    PyPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyPtr top() {
    if (stack_.empty()) bad("empty stack");
    return stack_.back();
  }
  std::vector<PyPtr> popn(std::size_t n) {
    std::vector<PyPtr> out(n);
    for (std::size_t k = n; k-- > 0;) out[k] = pop();
    return out;
  }
  std::vector<PyPtr> pop_mark() {
    if (marks_.empty()) bad("no MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  PyPtr list_target() {
    PyPtr t = top();
    if (t->kind != PyValue::Kind::List) bad("APPEND to a non-list");
    return t;
  }
  PyPtr dict_target() {
    PyPtr t = top();
    if (t->kind != PyValue::Kind::Dict) bad("SETITEM on a non-dict " + t->describe());
    return t;
  }
  PyPtr memo(std::uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) bad("reference to an unknown memo entry");
    return it->second;
  }
  PyPtr global(const std::string& module, const std::string& name) {
    if (!allowed_global(module, name))
      fail("{}: refusing '{}.{}': a checkpoint may only hold tensors and plain values, and this pickle names code to "
           "run (nothing was executed)",
           where_, module, name);
    auto p = std::make_shared<PyValue>();
    p->kind = PyValue::Kind::Global;
    p->s = module + "." + name;
    return p;
  }
  PyPtr persistent(const PyValue& pid) {
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (pid.kind != PyValue::Kind::Tuple || pid.items.size() != 5 || pid.items[0]->kind != PyValue::Kind::Str ||
        pid.items[0]->s != "storage" || pid.items[1]->kind != PyValue::Kind::Global || pid.items[2]->kind != PyValue::Kind::Str ||
        pid.items[4]->kind != PyValue::Kind::Int)
      bad("a persistent id that is not a torch storage");
    const std::string& type = pid.items[1]->s;
    if (type.rfind("torch.", 0) != 0 || !type.ends_with("Storage")) bad("storage type " + type);
    auto p = std::make_shared<PyValue>();
    p->kind = PyValue::Kind::Tensor;  // a bare storage: offset 0, no shape yet
    p->tensor.storage_type = type.substr(6);
    p->tensor.key = pid.items[2]->s;
    p->tensor.storage_numel = pid.items[4]->i;
    return p;
  }
  static std::vector<std::int64_t> ints(const PyValue& t, const Reader& r) {
    std::vector<std::int64_t> out;
    if (t.kind != PyValue::Kind::Tuple) r.bad("a tensor's size/stride is not a tuple");
    for (const auto& v : t.items) {
      if (v->kind != PyValue::Kind::Int) r.bad("a tensor's size/stride holds a non-integer");
      out.push_back(v->i);
    }
    return out;
  }
  PyPtr call(const PyPtr& callable, const PyPtr& args) {
    if (callable->kind != PyValue::Kind::Global) bad("a call of a non-global " + callable->describe());
    const std::string& f = callable->s;
    if (args->kind != PyValue::Kind::Tuple) bad("call arguments are not a tuple");
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (args->items.size() < 4 || args->items[0]->kind != PyValue::Kind::Tensor || args->items[1]->kind != PyValue::Kind::Int)
        bad("malformed _rebuild_tensor_v2");
      TensorRef t = args->items[0]->tensor;
      t.offset = args->items[1]->i;
      t.size = ints(*args->items[2], *this);
      t.stride = ints(*args->items[3], *this);
      return py_tensor(std::move(t));
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (args->items.empty() || args->items[0]->kind != PyValue::Kind::Tensor) bad("malformed _rebuild_parameter");
      return args->items[0];
    }
    if (f == "collections.OrderedDict" && args->items.empty()) return py_dict(true);
    if (f == "argparse.Namespace" && args->items.empty()) {
      auto d = py_dict();
      d->namespace_ = true;
      return d;
    }
    auto p = std::make_shared<PyValue>();
    p->kind = PyValue::Kind::Call;
    p->items = {callable, args};
    return p;
  }
  void build(const PyPtr& target, const PyPtr& state) {
    if (target->kind == PyValue::Kind::Dict && target->namespace_ && state->kind == PyValue::Kind::Dict) {
      target->dict = state->dict;
      return;
    }
    if (target->kind == PyValue::Kind::Call) {
      target->items.push_back(state);
      return;
    }
    if (target->kind == PyValue::Kind::Dict && state->kind == PyValue::Kind::Dict) {
      target->dict.insert(target->dict.end(), state->dict.begin(), state->dict.end());
      return;
    }
    if (target->kind == PyValue::Kind::Tensor) return;  // tensor state (e.g. requires_grad) is not needed
    bad("BUILD on " + target->describe());
  }

  const std::string& d_;
  std::string where_;
  std::size_t at_ = 0;
  std::vector<PyPtr> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::uint64_t, PyPtr> memo_;
};

// ---------------------------------------------------------------------------------------------
// Writer

class Writer {
 public:
  std::string out;

  void value(const PyValue& v) {
    using K = PyValue::Kind;
    switch (v.kind) {
      case K::None: out += 'N'; break;
      case K::Bool: out += v.b ? '\x88' : '\x89'; break;
      case K::Int: integer(v.i); break;
      case K::Float: {
        out += 'G';
        std::uint64_t u;
        std::memcpy(&u, &v.f, 8);
        for (int i = 7; i >= 0; --i) out += static_cast<char>((u >> (8 * i)) & 0xFF);
        break;
      }
      case K::Str: str(v.s); break;
      case K::Tuple:
        out += '(';
        for (const auto& x : v.items) value(*x);
        out += 't';
        break;
      case K::List:
        out += ']';
        if (!v.items.empty()) {
          out += '(';
          for (const auto& x : v.items) value(*x);
          out += 'e';
        }
        break;
      case K::Dict:
        if (v.namespace_) {
          global("argparse", "Namespace");
          out += ")\x81";  // EMPTY_TUPLE NEWOBJ
          dict_body(v);
          out += 'b';      // BUILD
        } else if (v.ordered) {
          global("collections", "OrderedDict");
          out += ")R";
          setitems(v);
        } else {
          dict_body(v);
        }
        break;
      case K::Tensor: tensor(v.tensor); break;
      default: fail("internal: cannot pickle {}", v.describe());
    }
  }

 private:
  void integer(std::int64_t i) {
    if (i >= 0 && i < 256) {
      out += 'K';
      out += static_cast<char>(i);
    } else if (i >= 0 && i < 65536) {
      out += 'M';
      out += static_cast<char>(i & 0xFF);
      out += static_cast<char>(i >> 8);
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
      out += 'J';
      for (int k = 0; k < 4; ++k) out += static_cast<char>((static_cast<std::uint32_t>(i) >> (8 * k)) & 0xFF);
    } else {
      out += '\x8a';
      out += '\x08';
      for (int k = 0; k < 8; ++k) out += static_cast<char>((static_cast<std::uint64_t>(i) >> (8 * k)) & 0xFF);
    }
  }
  void str(const std::string& s) {
    out += 'X';
    for (int k = 0; k < 4; ++k) out += static_cast<char>((s.size() >> (8 * k)) & 0xFF);
    out += s;
  }
  void global(const char* module, const char* name) {
    out += 'c';
    out += module;
    out += '\n';
    out += name;
    out += '\n';
  }
  void dict_body(const PyValue& v) {
    out += '}';
    setitems(v);
  }
  void setitems(const PyValue& v) {
    if (v.dict.empty()) return;
    out += '(';
    for (const auto& [k, x] : v.dict) {
      value(*k);
      value(*x);
    }
    out += 'u';
  }
  void tensor(const TensorRef& t) {
    global("torch._utils", "_rebuild_tensor_v2");
    out += '(';
    // Persistent storage id.
    out += '(';
    str("storage");
    global("torch", t.storage_type.c_str());
    str(t.key);
    str("cpu");
    integer(t.storage_numel);
    out += "tQ";  // TUPLE BINPERSID
    integer(t.offset);
    out += '(';
    for (auto d : t.size) integer(d);
    out += 't';
    out += '(';
    for (auto d : t.stride) integer(d);
    out += 't';
    out += '\x89';  // requires_grad False
    global("collections", "OrderedDict");
    out += ")R";
    out += "tR";  // args TUPLE, REDUCE
  }
};

}  // namespace

PyPtr read_pickle(const std::string& data, const std::string& where) { return Reader(data, where).run(); }

std::string write_pickle(const PyValue& root) {
  Writer w;
  w.out = "\x80\x02";
  w.value(root);
  w.out += '.';
  return w.out;
}

}  // namespace primus::checkpoint::megatron
