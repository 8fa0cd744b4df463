// Megatron's per-layer pattern arguments (moe_layer_freq, window_attn_skip_freq, no_rope_freq):
// either an integer N ("every N-th layer") or a list of 0/1 per layer, which users write as a
// Python list expression such as "([0]*3+[1]*58)". The expression is parsed by a tiny grammar —
// `[a, b, ...]` terms, optionally `*n`, joined by `+`, optionally in parentheses — never evaluated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/value.hpp"

namespace primus::config {

struct LayerFreq {
  std::optional<int64_t> every;   // integer form
  std::vector<int64_t> pattern;   // list form (one entry per layer)

  bool is_set() const { return every.has_value() || !pattern.empty(); }
  // One flag per layer: integer N marks layers 0, N, 2N, ...; the list is taken as written.
  // Throws when a list's length differs from num_layers.
  std::vector<bool> per_layer(int64_t num_layers) const;
  Value to_value() const;
  bool operator==(const LayerFreq&) const = default;
};

// Parses an int, a list of ints, or a list expression string. Throws primus::Error with `what`
// (the key) in the message when the text is not in that grammar.
LayerFreq parse_layer_freq(const Value& value, const std::string& what);

}  // namespace primus::config
