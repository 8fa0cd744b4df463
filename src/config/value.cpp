#include "config/value.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

bool Value::operator==(const Value& other) const {
  // 4 and 4.0 are the same number to a user.
  if ((is_int() || is_float()) && (other.is_int() || other.is_float())) {
    if (is_int() && other.is_int()) return as_int() == other.as_int();
    return as_float() == other.as_float();
  }
  return data == other.data;
}

namespace {

std::string format_float(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  // Shortest text that reads back to the same double; keep a '.' or 'e' so it stays a float.
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  Value plain = parse_plain_scalar(s);
  if (!plain.is_string()) return true;  // would read back as a number/bool/null
  static const std::string special = ":#[]{},&*!|>'\"%@`";
  if (special.find(s.front()) != std::string::npos || std::isspace((unsigned char)s.front()) ||
      std::isspace((unsigned char)s.back()) || s.front() == '-' || s.front() == '?')
    return true;
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.find(',') != std::string::npos || s.find('\n') != std::string::npos;
}

}  // namespace

std::string Value::to_yaml() const {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "null";
        else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(v);
        else if constexpr (std::is_same_v<T, double>) return format_float(v);
        else if constexpr (std::is_same_v<T, std::string>) {
          if (!needs_quotes(v)) return v;
          std::string out = "'";
          for (char c : v) out += (c == '\'') ? std::string("''") : std::string(1, c);
          return out + "'";
        } else {
          std::string out = "[";
          for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i].to_yaml();
          return out + "]";
        }
      },
      data);
}

std::string Value::to_json() const {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "null";
        else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(v);
        else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) return nlohmann::json(format_float(v)).dump();
          return format_float(v);
        } else if constexpr (std::is_same_v<T, std::string>) return nlohmann::json(v).dump();
        else {
          std::string out = "[";
          for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i].to_json();
          return out + "]";
        }
      },
      data);
}

std::string Value::to_display() const { return is_string() ? as_string() : to_yaml(); }

std::string Value::for_message() const { return printable(to_yaml()); }

namespace {

bool parse_integer(std::string text, int64_t& out) {
  std::erase(text, '_');
  if (text.empty()) return false;
  size_t i = (text[0] == '+' || text[0] == '-') ? 1 : 0;
  if (i >= text.size()) return false;
  int base = 10;
  if (text.size() > i + 2 && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) base = 16;
  else if (text.size() > i + 2 && text[i] == '0' && (text[i + 1] == 'o' || text[i + 1] == 'O')) base = 8;
  std::string digits = text.substr(i + (base == 10 ? 0 : 2));
  for (char c : digits)
    if (!std::isxdigit((unsigned char)c) || (base == 10 && !std::isdigit((unsigned char)c))) return false;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) return false;
  if (text[0] == '-') out = -out;
  return true;
}

bool parse_float(std::string text, double& out) {
  std::erase(text, '_');
  if (text.empty()) return false;
  std::string lower;
  for (char c : text) lower += char(std::tolower((unsigned char)c));
  if (lower == ".inf" || lower == "+.inf") { out = INFINITY; return true; }
  if (lower == "-.inf") { out = -INFINITY; return true; }
  if (lower == ".nan") { out = NAN; return true; }
  // Digits, at most one '.', optional exponent: no hex floats, no "inf"/"nan" words.
  bool digit = false;
  for (char c : lower) {
    if (std::isdigit((unsigned char)c)) digit = true;
    else if (c != '.' && c != 'e' && c != '+' && c != '-') return false;
  }
  if (!digit) return false;
  const char* begin = text.c_str();
  char* end = nullptr;
  out = std::strtod(begin, &end);
  return end == begin + text.size();
}

}  // namespace

Value parse_plain_scalar(const std::string& text) {
  static const char* nulls[] = {"", "~", "null", "Null", "NULL", "None"};
  for (const char* n : nulls)
    if (text == n) return Value{};
  static const char* trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char* falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (const char* t : trues)
    if (text == t) return Value{true};
  for (const char* f : falses)
    if (text == f) return Value{false};
  int64_t i;
  if (parse_integer(text, i)) return Value{i};
  double d;
  if (parse_float(text, d)) return Value{d};
  return Value{text};
}

namespace {

Value parse_flow(const std::string& s, size_t& pos) {
  auto skip = [&] { while (pos < s.size() && std::isspace((unsigned char)s[pos])) ++pos; };
  skip();
  if (pos < s.size() && s[pos] == '[') {
    ++pos;
    Value::List items;
    skip();
    if (pos < s.size() && s[pos] == ']') { ++pos; return Value{items}; }
    while (true) {
      items.push_back(parse_flow(s, pos));
      skip();
      if (pos < s.size() && s[pos] == ',') { ++pos; continue; }
      if (pos < s.size() && s[pos] == ']') { ++pos; return Value{items}; }
      fail("malformed list literal '{}'", s);
    }
  }
  if (pos < s.size() && (s[pos] == '\'' || s[pos] == '"')) {
    char q = s[pos++];
    std::string out;
    while (pos < s.size()) {
      if (s[pos] == q) {
        if (q == '\'' && pos + 1 < s.size() && s[pos + 1] == '\'') { out += '\''; pos += 2; continue; }
        ++pos;
        return Value{out};
      }
      if (q == '"' && s[pos] == '\\' && pos + 1 < s.size()) { out += s[pos + 1]; pos += 2; continue; }
      out += s[pos++];
    }
    fail("unterminated quoted string in '{}'", s);
  }
  size_t start = pos;
  while (pos < s.size() && s[pos] != ',' && s[pos] != ']') ++pos;
  std::string token = s.substr(start, pos - start);
  while (!token.empty() && std::isspace((unsigned char)token.back())) token.pop_back();
  return parse_plain_scalar(token);
}

}  // namespace

Value parse_flow_literal(const std::string& text) {
  size_t pos = 0;
  Value v = parse_flow(text, pos);
  while (pos < text.size() && std::isspace((unsigned char)text[pos])) ++pos;
  if (pos != text.size()) fail("trailing text in literal '{}'", text);
  return v;
}

}  // namespace primus::config
