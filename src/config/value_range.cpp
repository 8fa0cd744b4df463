#include "config/value_range.hpp"

#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::config {

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace((unsigned char)s[a])) ++a;
  while (b > a && std::isspace((unsigned char)s[b - 1])) --b;
  return s.substr(a, b - a);
}

double bound(const std::string& key, const std::string& text) {
  const std::string t = trim(text);
  if (t == "inf") return std::numeric_limits<double>::infinity();
  if (t == "-inf") return -std::numeric_limits<double>::infinity();
  if (t.starts_with("2^")) return std::ldexp(1.0, std::stoi(t.substr(2)));  // 2^31
  const Value v = parse_plain_scalar(t);
  if (!v.is_int() && !v.is_float()) fail("arguments table: {}: range bound '{}' is not a number", key, t);
  return v.as_float();
}

std::optional<Compare> compare_at(const std::string& s, size_t& pos) {
  auto starts = [&](const char* op) { return s.compare(pos, std::char_traits<char>::length(op), op) == 0; };
  if (starts("<=")) { pos += 2; return Compare::kLessEqual; }
  if (starts(">=")) { pos += 2; return Compare::kGreaterEqual; }
  if (starts("==")) { pos += 2; return Compare::kEqual; }
  if (starts("!=")) { pos += 2; return Compare::kNotEqual; }
  if (starts("<")) { pos += 1; return Compare::kLess; }
  if (starts(">")) { pos += 1; return Compare::kGreater; }
  return std::nullopt;
}

RangeCondition parse_condition(const std::string& key, const std::string& text) {
  RangeCondition c;
  c.text = trim(text);
  size_t pos = 0;
  while (pos < c.text.size() && (std::isalnum((unsigned char)c.text[pos]) || c.text[pos] == '_' || c.text[pos] == '.'))
    ++pos;
  c.key = c.text.substr(0, pos);
  while (pos < c.text.size() && c.text[pos] == ' ') ++pos;
  auto op = compare_at(c.text, pos);
  if (c.key.empty() || !op) fail("arguments table: {}: cannot read the condition '{}'", key, c.text);
  c.op = *op;
  c.literal = parse_plain_scalar(trim(c.text.substr(pos)));
  return c;
}

std::string number(double x) {
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == std::floor(x) && std::fabs(x) < 1e15) return fmt::format("{}", static_cast<long long>(x));
  return fmt::format("{}", x);
}

}  // namespace

const char* compare_text(Compare op) {
  switch (op) {
    case Compare::kLess: return "<";
    case Compare::kLessEqual: return "<=";
    case Compare::kGreater: return ">";
    case Compare::kGreaterEqual: return ">=";
    case Compare::kEqual: return "==";
    case Compare::kNotEqual: return "!=";
  }
  return "?";
}

bool compare_values(const Value& a, Compare op, const Value& b) {
  if ((a.is_int() || a.is_float()) && (b.is_int() || b.is_float())) {
    const double x = a.as_float(), y = b.as_float();
    switch (op) {
      case Compare::kLess: return x < y;
      case Compare::kLessEqual: return x <= y;
      case Compare::kGreater: return x > y;
      case Compare::kGreaterEqual: return x >= y;
      case Compare::kEqual: return x == y;
      case Compare::kNotEqual: return x != y;
    }
  }
  const std::string x = a.to_display(), y = b.to_display();
  switch (op) {
    case Compare::kEqual: return x == y;
    case Compare::kNotEqual: return x != y;
    case Compare::kLess: return x < y;
    case Compare::kLessEqual: return x <= y;
    case Compare::kGreater: return x > y;
    case Compare::kGreaterEqual: return x >= y;
  }
  return false;
}

std::vector<RangeRule> parse_range(const std::string& key, const std::string& text) {
  std::vector<RangeRule> rules;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string part = trim(text.substr(start, end - start));
    start = end + 1;
    if (part.empty()) {
      if (end == text.size()) break;
      fail("arguments table: {}: empty rule in range '{}'", key, text);
    }
    RangeRule r;
    if (auto w = part.find(" when "); w != std::string::npos) {
      r.when = parse_condition(key, part.substr(w + 6));
      part = trim(part.substr(0, w));
    }
    size_t pos = 0;
    if (part == "any") {
      r.kind = RangeRule::Kind::kAny;
    } else if (part.front() == '[' || part.front() == '(') {
      const auto comma = part.find(',');
      const char close = part.back();
      if (comma == std::string::npos || (close != ']' && close != ')'))
        fail("arguments table: {}: cannot read the interval '{}'", key, part);
      r.kind = RangeRule::Kind::kInterval;
      r.low_closed = part.front() == '[';
      r.high_closed = close == ']';
      r.low = bound(key, part.substr(1, comma - 1));
      r.high = bound(key, part.substr(comma + 1, part.size() - comma - 2));
      if (!(r.low <= r.high)) fail("arguments table: {}: empty interval '{}'", key, part);
    } else if (auto op = compare_at(part, pos)) {
      r.kind = RangeRule::Kind::kCompareKey;
      r.op = *op;
      r.other_key = trim(part.substr(pos));
      if (r.other_key.empty()) fail("arguments table: {}: '{}' compares with no key", key, part);
    } else {
      fail("arguments table: {}: cannot read the range rule '{}'", key, part);
    }
    rules.push_back(std::move(r));
    if (end == text.size()) break;
  }
  return rules;
}

bool RangeRule::admits(double x) const {
  if (std::isnan(x)) return false;
  if (kind == Kind::kAny) return std::isfinite(x);
  if (kind != Kind::kInterval) return true;
  if (std::isinf(x)) return (x > 0 && std::isinf(high) && high_closed) || (x < 0 && std::isinf(low) && low_closed);
  const bool above = low_closed ? x >= low : x > low;
  const bool below = high_closed ? x <= high : x < high;
  return above && below;
}

std::string RangeRule::describe() const {
  std::string out;
  if (kind == Kind::kAny) {
    out = "must be a finite number";
  } else if (kind == Kind::kCompareKey) {
    switch (op) {
      case Compare::kLessEqual: out = "must not exceed " + other_key; break;
      case Compare::kLess: out = "must be less than " + other_key; break;
      case Compare::kGreaterEqual: out = "must be at least " + other_key; break;
      case Compare::kGreater: out = "must be greater than " + other_key; break;
      case Compare::kEqual: out = "must equal " + other_key; break;
      case Compare::kNotEqual: out = "must differ from " + other_key; break;
    }
  } else {
    const bool open_top = std::isinf(high), open_bottom = std::isinf(low);
    if (open_top && !open_bottom) {
      if (low == 0 && !low_closed) out = "must be positive";
      else if (low == 0 && low_closed) out = "must not be negative";
      else out = fmt::format("must be {} {}", low_closed ? "at least" : "greater than", number(low));
    } else if (open_bottom && !open_top) {
      out = fmt::format("must be {} {}", high_closed ? "at most" : "less than", number(high));
    } else if (open_top && open_bottom) {
      out = "must be a finite number";
    } else {
      out = fmt::format("must be in {}{}, {}{}", low_closed ? '[' : '(', number(low), number(high), high_closed ? ']' : ')');
    }
  }
  if (when) out += " when " + when->text;
  return out;
}

}  // namespace primus::config
