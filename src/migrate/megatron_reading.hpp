// What Megatron-LM itself makes of a flag list: every argument starts at Megatron's default (not
// Primus'), the flags override, then Megatron's conversions, derived values and validate_args
// rules run — the same rules the resolver applies. This is the reference the migration must
// reproduce, key by key.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "config/layer.hpp"
#include "config/resolved_config.hpp"

namespace primus::migrate {

using ValueMap = std::map<std::string, config::Value>;

struct MegatronReading {
  ValueMap given;                   // each key before derivation: Megatron default or the flag's value
  config::ResolvedConfig resolved;  // after conversions, derivation and validation
  ValueMap final_values;            // resolved.values and resolved.derived together
};

// Throws primus::Error when Megatron would reject the arguments (the message names the flag).
MegatronReading read_on_megatron_defaults(const config::Layer& flags, int64_t world_size);

// values + derived of a resolved configuration, one map.
ValueMap final_values_of(const config::ResolvedConfig& resolved);

}  // namespace primus::migrate
