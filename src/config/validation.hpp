// Megatron's argument conversions, derived defaults and validate_args rules (see
// ../shared/reference/megatron-formats.md §7), applied once before any work starts. Each failure
// is a one-line primus::Error naming the key, its value and where it was set.
#pragma once

#include <cstdint>

#include "config/resolved_config.hpp"

namespace primus::config {

// Fills derived values into `config.values` (origin "derived") and `config.derived`, builds
// `config.args`, and throws on the first rule broken.
void derive_and_validate(ResolvedConfig& config, int64_t world_size);

}  // namespace primus::config
