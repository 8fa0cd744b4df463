// The valid values of a numeric argument, as the argument table's `range` column writes them:
//
//   [1, inf)                      an interval; '[' ']' include the bound, '(' ')' exclude it
//   (0, 1]; <= lr                 several rules, ';'-separated; "<= KEY" compares with another key
//   [1, inf) when eval_iters > 0  a rule that applies only under a condition on another key
//   any                           no bound (a float must still be finite)
//
// Floats are finite unless an interval includes an infinite bound ("[0, inf]"); NaN never passes.
// A list argument's rule applies to each element. A null value is not checked (required keys are
// checked elsewhere). Rules are parsed once, when the schema is built; a malformed one is an error
// in the table, reported at start-up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/value.hpp"

namespace primus::config {

enum class Compare { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kNotEqual };

// "eval_iters > 0", "tokenizer_type == NullTokenizer".
struct RangeCondition {
  std::string key;
  Compare op = Compare::kEqual;
  Value literal;
  std::string text;  // as written
};

struct RangeRule {
  enum class Kind { kAny, kInterval, kCompareKey };
  Kind kind = Kind::kAny;
  // kInterval
  double low = 0, high = 0;
  bool low_closed = true, high_closed = true;
  // kCompareKey: value <op> other_key
  Compare op = Compare::kLessEqual;
  std::string other_key;
  std::optional<RangeCondition> when;

  // "must be at least 1", "must be in (0, 1]", "must not exceed lr"
  std::string describe() const;
  // Whether a number satisfies an interval rule (NaN never does; infinities only with an
  // included infinite bound).
  bool admits(double x) const;
};

// Parses a `range` cell; throws primus::Error naming `key` when it is malformed.
std::vector<RangeRule> parse_range(const std::string& key, const std::string& text);

// a <op> b for two values of the same kind (numbers compare as numbers, anything else as text).
bool compare_values(const Value& a, Compare op, const Value& b);
const char* compare_text(Compare op);

}  // namespace primus::config
