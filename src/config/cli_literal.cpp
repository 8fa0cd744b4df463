#include "config/cli_literal.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "core/error.hpp"

namespace primus::config {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool all_of(const std::string& s, size_t from, int (*pred)(int)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (s[i] != '_' && !pred(static_cast<unsigned char>(s[i]))) return false;
  return s.back() != '_' && s[from] != '_';
}

// Python integer literals: 42, -7, 1_000, 0x1f, 0o17, 0b101.
bool python_int(const std::string& text, int64_t& out) {
  size_t sign = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  std::string body = text.substr(sign);
  int base = 10;
  size_t from = 0;
  if (body.size() > 2 && body[0] == '0' && std::isalpha(static_cast<unsigned char>(body[1]))) {
    char b = char(std::tolower(static_cast<unsigned char>(body[1])));
    base = b == 'x' ? 16 : b == 'o' ? 8 : b == 'b' ? 2 : 0;
    if (base == 0) return false;
    from = 2;
  }
  if (!all_of(body, from, base == 16 ? isxdigit : isdigit)) return false;
  std::string digits = body.substr(from);
  std::erase(digits, '_');
  int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) return false;
  out = text[0] == '-' ? -v : v;
  return true;
}

// Python float literals: 1.5, .5, 1., 1e-5, 2E+3, 1_000.5 (no inf/nan words: upstream keeps those as text).
bool python_float(const std::string& text, double& out) {
  std::string s = text;
  std::erase(s, '_');
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  bool digits = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) digits = true;
    else if (c == '.' && !dot && !exp) dot = true;
    else if ((c == 'e' || c == 'E') && digits && !exp) {
      exp = true;
      digits = false;
      if (i + 1 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-')) ++i;
    } else return false;
  }
  if (!digits || (!dot && !exp)) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}


// Items of a [..] or (..) literal, split at top-level commas outside quotes.
Value sequence(const std::string& text) {
  std::string inner = text.substr(1, text.size() - 2);
  Value::List items;
  std::string item;
  int depth = 0;
  char quote = 0;
  auto flush = [&](bool last) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    std::string t = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (!t.empty()) items.push_back(parse_cli_literal(t));
    else if (!last) fail("command line: empty item in the list {}", text);
    item.clear();
  };
  for (char c : inner) {
    if (quote) {
      if (c == quote) quote = 0;
      item += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      item += c;
    } else if (c == '[' || c == '(') {
      ++depth;
      item += c;
    } else if (c == ']' || c == ')') {
      --depth;
      item += c;
    } else if (c == ',' && depth == 0) {
      flush(false);
    } else {
      item += c;
    }
  }
  if (quote || depth != 0) fail("command line: unbalanced list literal {}", text);
  flush(true);
  return Value{items};
}

}  // namespace

Value parse_cli_literal(const std::string& raw) {
  std::string text = raw;
  size_t b = text.find_first_not_of(" \t"), e = text.find_last_not_of(" \t");
  text = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  std::string l = lower(text);
  if (l == "true" || l == "false") return Value{l == "true"};
  if (text == "None" || text == "null") return Value{};
  if (text.size() >= 2 && ((text.front() == '[' && text.back() == ']') || (text.front() == '(' && text.back() == ')')))
    return sequence(text);
  if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') && text.back() == text.front())
    return Value{text.substr(1, text.size() - 2)};
  int64_t i;
  if (python_int(text, i)) return Value{i};
  double d;
  if (python_float(text, d)) return Value{d};
  return Value{text};
}

}  // namespace primus::config
