#include "config/layer_freq.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

std::vector<bool> LayerFreq::per_layer(int64_t num_layers) const {
  std::vector<bool> out(size_t(num_layers), false);
  if (every) {
    for (int64_t i = 0; i < num_layers; ++i) out[size_t(i)] = (*every > 0) && (i % *every == 0);
    return out;
  }
  if (int64_t(pattern.size()) != num_layers)
    fail("layer pattern has {} entries but num_layers is {}", pattern.size(), num_layers);
  for (size_t i = 0; i < pattern.size(); ++i) out[i] = pattern[i] != 0;
  return out;
}

Value LayerFreq::to_value() const {
  if (every) return Value{*every};
  if (pattern.empty()) return Value{};
  // Print in the compact form users write: ([0]*3+[1]*58).
  std::string out = "(";
  size_t i = 0;
  bool first = true;
  while (i < pattern.size()) {
    size_t j = i;
    while (j < pattern.size() && pattern[j] == pattern[i]) ++j;
    if (!first) out += '+';
    out += fmt::format("[{}]*{}", pattern[i], j - i);
    first = false;
    i = j;
  }
  return Value{out + ")"};
}

namespace {

// Far more layers than any model: a pattern past it is a typo, not a network.
constexpr int64_t kMaxPatternLayers = int64_t{1} << 16;

struct Parser {
  const std::string& s;
  const std::string& what;
  size_t pos = 0;

  [[noreturn]] void error(const char* expected) {
    fail("{}: cannot read '{}' as a layer pattern (expected {} at position {}); write an integer, "
         "a list like [0, 1, 1] or an expression like ([0]*1+[1]*26)",
         what, printable(s), expected, pos + 1);
  }
  void skip() { while (pos < s.size() && std::isspace((unsigned char)s[pos])) ++pos; }
  bool eat(char c) {
    skip();
    if (pos < s.size() && s[pos] == c) { ++pos; return true; }
    return false;
  }
  int64_t integer() {
    skip();
    size_t start = pos;
    if (pos < s.size() && s[pos] == '-') ++pos;
    while (pos < s.size() && std::isdigit((unsigned char)s[pos])) ++pos;
    if (start == pos || (s[start] == '-' && pos == start + 1)) error("an integer");
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data() + start, s.data() + pos, v);
    if (ec != std::errc() || end != s.data() + pos) error("an integer of at most 18 digits");
    return v;
  }
  // A factor: [a, b, ...] or a parenthesised sum, optionally repeated: *n. Megatron evaluates
  // these as Python list arithmetic; this reads exactly that subset, never code.
  std::vector<int64_t> factor(int depth) {
    if (depth > 32) error("less nesting");
    std::vector<int64_t> items;
    if (eat('[')) {
      if (!eat(']')) {
        do items.push_back(integer()); while (eat(','));
        if (!eat(']')) error("']'");
      }
    } else if (eat('(')) {
      items = sum(depth + 1);
      if (!eat(')')) error("')'");
    } else {
      error("'[' or '('");
    }
    while (eat('*')) {
      int64_t n = integer();
      if (n < 0) error("a non-negative repeat count");
      if (!items.empty() && n > kMaxPatternLayers / int64_t(items.size()))
        fail("{}: the layer pattern '{}' repeats to more than {} layers", what, printable(s), kMaxPatternLayers);
      std::vector<int64_t> rep;
      rep.reserve(items.size() * size_t(n));
      for (int64_t k = 0; k < n; ++k) rep.insert(rep.end(), items.begin(), items.end());
      items = std::move(rep);
    }
    return items;
  }
  std::vector<int64_t> sum(int depth) {
    std::vector<int64_t> out = factor(depth);
    while (eat('+')) {
      auto t = factor(depth);
      if (out.size() + t.size() > size_t(kMaxPatternLayers))
        fail("{}: the layer pattern '{}' has more than {} layers", what, printable(s), kMaxPatternLayers);
      out.insert(out.end(), t.begin(), t.end());
    }
    return out;
  }
  std::vector<int64_t> expression() {
    std::vector<int64_t> out = sum(0);
    skip();
    if (pos != s.size()) error("end of text");
    return out;
  }
};

}  // namespace

LayerFreq parse_layer_freq(const Value& value, const std::string& what) {
  LayerFreq out;
  if (value.is_null()) return out;
  auto every = [&](int64_t n) {
    // Megatron computes i % n: 0 would divide by zero, a negative n means nothing.
    if (n < 1) fail("{}: {} is not a layer frequency (every N-th layer needs N at least 1)", what, n);
    out.every = n;
    return out;
  };
  if (value.is_int()) return every(value.as_int());
  if (value.is_list()) {
    for (const auto& v : value.as_list()) {
      if (!v.is_int()) fail("{}: layer pattern entries must be integers, got {}", what, v.for_message());
      out.pattern.push_back(v.as_int());
    }
    return out;
  }
  if (value.is_string()) {
    const std::string& s = value.as_string();
    Value plain = parse_plain_scalar(s);
    if (plain.is_int()) return every(plain.as_int());
    Parser p{s, what};
    out.pattern = p.expression();
    return out;
  }
  fail("{}: expected an integer or a layer pattern, got {}", what, value.for_message());
}

}  // namespace primus::config
