#include "config/range_checks.hpp"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "config/schema.hpp"
#include "core/error.hpp"

namespace primus::config {

namespace {

std::string where(const ResolvedConfig& c, const std::string& key) {
  const Setting& s = c.at(key);
  return fmt::format("{}: {} = {}", s.origin.describe(), key, s.value.for_message());
}

// "eval_iters = 5 (command line (--eval-iters))"
std::string shown(const ResolvedConfig& c, const std::string& key) {
  const Setting& s = c.at(key);
  return fmt::format("{} = {} ({})", key, s.value.for_message(), s.origin.describe());
}

bool holds(const ResolvedConfig& c, const RangeCondition& cond) {
  const Value& v = c.at(cond.key).value;
  if (v.is_null()) return cond.op == Compare::kNotEqual;
  return compare_values(v, cond.op, cond.literal);
}

// The numbers a value holds (a list's elements); false when one is not a number.
bool numbers_of(const Value& v, std::vector<double>& out) {
  if (v.is_int() || v.is_float()) {
    out.push_back(v.as_float());
    return true;
  }
  if (!v.is_list()) return false;
  for (const auto& e : v.as_list()) {
    if (e.is_null()) continue;
    if (!e.is_int() && !e.is_float()) return false;
    out.push_back(e.as_float());
  }
  return true;
}

}  // namespace

void check_ranges(const ResolvedConfig& c, RangePhase phase) {
  for (const ArgumentSpec& spec : Schema::instance().all()) {
    if (spec.range.empty()) continue;
    const Setting& s = c.at(spec.key);
    if (s.value.is_null()) continue;
    const bool derived = s.origin.kind == Origin::Kind::kDerived;
    for (const RangeRule& rule : spec.range) {
      const bool interval = rule.kind != RangeRule::Kind::kCompareKey;
      // Intervals: values as given first, derived ones once derived; comparisons: once all is known.
      if (interval ? (phase == RangePhase::kDerived) != derived : phase != RangePhase::kDerived) continue;
      if (rule.when && !holds(c, *rule.when)) continue;
      const std::string condition = rule.when ? fmt::format(" ({})", shown(c, rule.when->key)) : "";
      if (interval) {
        std::vector<double> xs;
        if (!numbers_of(s.value, xs)) continue;  // typing already refused non-numbers
        for (double x : xs)
          if (!rule.admits(x))
            fail("{}: {}{}", where(c, spec.key),
                 std::isfinite(x) || rule.kind == RangeRule::Kind::kAny
                     ? rule.describe()
                     : "must be a finite number (" + rule.describe() + ")",
                 condition);
        continue;
      }
      const Value& other = c.at(rule.other_key).value;
      if (other.is_null()) continue;
      if (!compare_values(s.value, rule.op, other))
        fail("{}: {} ({}){}", where(c, spec.key), rule.describe(), shown(c, rule.other_key), condition);
    }
  }
}

}  // namespace primus::config
