// The argument table's `range` rules (config/value_range.hpp) checked against a resolved
// configuration — one place for every source of a value: presets, an experiment's overrides,
// the command line, --megatron-args and migrated scripts all reach it through resolve().
#pragma once

#include "config/resolved_config.hpp"

namespace primus::config {

enum class RangePhase {
  kAsGiven,  // before derivation: intervals of every value set (so that derivation never sees 0 heads)
  kDerived,  // after derivation: intervals of derived values, and the rules that compare keys
};

// Throws primus::Error "FILE:LINE: key = value: must be ..." for the first broken rule.
void check_ranges(const ResolvedConfig& config, RangePhase phase);

}  // namespace primus::config
