// A configuration value as users write it in YAML or on the command line: null, bool, integer,
// float, string or a list of those. Typed by the argument schema after resolution.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace primus::config {

struct Value {
  using List = std::vector<Value>;
  std::variant<std::monostate, bool, int64_t, double, std::string, List> data;

  Value() = default;
  Value(bool b) : data(b) {}
  Value(int64_t i) : data(i) {}
  Value(int i) : data(int64_t{i}) {}
  Value(double d) : data(d) {}
  Value(std::string s) : data(std::move(s)) {}
  Value(const char* s) : data(std::string(s)) {}
  Value(List l) : data(std::move(l)) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(data); }
  bool is_bool() const { return std::holds_alternative<bool>(data); }
  bool is_int() const { return std::holds_alternative<int64_t>(data); }
  bool is_float() const { return std::holds_alternative<double>(data); }
  bool is_string() const { return std::holds_alternative<std::string>(data); }
  bool is_list() const { return std::holds_alternative<List>(data); }

  bool as_bool() const { return std::get<bool>(data); }
  int64_t as_int() const { return std::get<int64_t>(data); }
  double as_float() const { return is_int() ? double(as_int()) : std::get<double>(data); }
  const std::string& as_string() const { return std::get<std::string>(data); }
  const List& as_list() const { return std::get<List>(data); }

  bool operator==(const Value& other) const;

  // YAML flow form (null, true, 3, 0.001, 'text', [1, 2]) — what `config show` prints and
  // what reads back to the same value.
  std::string to_yaml() const;
  // JSON form.
  std::string to_json() const;
  // Short human form (text unquoted).
  std::string to_display() const;
  // to_yaml() made fit for an error message: one line, escaped, long values cut (core/message_text).
  std::string for_message() const;
};

// Primus' reading of an unquoted scalar: null/~, YAML 1.1 booleans (true/false/yes/no/on/off),
// integers (also 0x.., 1_000), floats including forms PyYAML leaves as strings (1e-5), else text.
Value parse_plain_scalar(const std::string& text);

// Parses a YAML flow literal as the generated schema tables hold them ('x', [1, 2], null, 3).
Value parse_flow_literal(const std::string& text);

}  // namespace primus::config
