#include "data/python_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"

namespace primus::data {
namespace {

void append_string(std::string& out, const std::string& s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 code point; ensure_ascii writes it as \u and four hex digits (surrogate pairs above BMP).
    std::uint32_t cp = 0;
    int extra = 0;
    if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; extra = 1; }
    else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; extra = 2; }
    else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; extra = 3; }
    else fail("invalid UTF-8 in dataset description string");
    if (i + static_cast<std::size_t>(extra) >= s.size()) {
      fail("truncated UTF-8 in dataset description string");
    }
    for (int k = 1; k <= extra; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3f);
    i += static_cast<std::size_t>(extra) + 1;
    char buf[16];
    if (cp >= 0x10000) {
      const std::uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
    }
    out += buf;
  }
  out.push_back('"');
}

void dump(std::string& out, const nlohmann::ordered_json& v, int depth) {
  const std::string indent(static_cast<std::size_t>(4 * (depth + 1)), ' ');
  const std::string closing(static_cast<std::size_t>(4 * depth), ' ');
  switch (v.type()) {
    case nlohmann::json::value_t::null: out += "null"; break;
    case nlohmann::json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case nlohmann::json::value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); break;
    case nlohmann::json::value_t::number_float: out += python_float_repr(v.get<double>()); break;
    case nlohmann::json::value_t::string: append_string(out, v.get<std::string>()); break;
    case nlohmann::json::value_t::array: {
      if (v.empty()) { out += "[]"; break; }
      out += "[\n";
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ",\n";
        first = false;
        out += indent;
        dump(out, e, depth + 1);
      }
      out += "\n" + closing + "]";
      break;
    }
    case nlohmann::json::value_t::object: {
      if (v.empty()) { out += "{}"; break; }
      out += "{\n";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ",\n";
        first = false;
        out += indent;
        append_string(out, it.key());
        out += ": ";
        dump(out, it.value(), depth + 1);
      }
      out += "\n" + closing + "}";
      break;
    }
    default: fail("dataset description holds a value JSON cannot represent");
  }
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: fixed for decimal exponents -4..15, else
  // d.ddde[+-]XX with at least two exponent digits.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const std::size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  bool neg = false;
  if (mant[0] == '-') { neg = true; mant.erase(0, 1); }
  std::string digits;
  for (char c : mant) if (c != '.') digits.push_back(c);
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out.append("0.");
      out.append(static_cast<std::size_t>(-exp - 1), '0');
      out.append(digits);
    } else if (static_cast<std::size_t>(exp) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<std::size_t>(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out.append(digits, 0, static_cast<std::size_t>(exp) + 1);
      out.push_back('.');
      out.append(digits, static_cast<std::size_t>(exp) + 1, std::string::npos);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits, 1, std::string::npos);
  }
  char eb[16];
  std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + eb;
}

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  dump(out, value, 0);
  return out;
}

}  // namespace primus::data
