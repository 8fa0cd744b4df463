#include "config/args.hpp"

#include "config/args_from_values.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"

namespace primus::config {

int64_t pad_vocab_size(int64_t vocab_size, const Args& args) {
  int64_t multiple = args.make_vocab_size_divisible_by * args.tensor_model_parallel_size;
  if (multiple <= 0) fail("make_vocab_size_divisible_by × tensor_model_parallel_size must be positive");
  return (vocab_size + multiple - 1) / multiple * multiple;
}

namespace {

void assign(bool& out, const Value& v) { out = !v.is_null() && v.as_bool(); }
void assign(int64_t& out, const Value& v) { out = v.as_int(); }
void assign(double& out, const Value& v) { out = v.as_float(); }
void assign(std::string& out, const Value& v) { out = v.as_string(); }
void assign(LayerFreq& out, const Value& v) { out = parse_layer_freq(v, "layer pattern"); }
template <typename T>
void assign(std::vector<T>& out, const Value& v) {
  out.clear();
  if (v.is_null()) return;
  if (!v.is_list()) {  // a scalar written for a list argument: one element
    T t{};
    assign(t, v);
    out.push_back(std::move(t));
    return;
  }
  for (const auto& item : v.as_list()) {
    T t{};
    assign(t, item);
    out.push_back(std::move(t));
  }
}
template <typename T>
void assign(std::optional<T>& out, const Value& v) {
  if (v.is_null()) {
    out.reset();
    return;
  }
  T t{};
  assign(t, v);
  out = std::move(t);
}

}  // namespace

Args args_from_values(const std::map<std::string, Setting>& values) {
  Args args;
#define PRIMUS_ARGUMENT(key, ...)                                     \
  if (auto it = values.find(key_of_identifier(#key)); it != values.end()) \
    assign(args.key, it->second.value);
#include "config/generated/arguments.inc"
#undef PRIMUS_ARGUMENT
  return args;
}

}  // namespace primus::config
