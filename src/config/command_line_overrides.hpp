// Settings given on the command line, in every spelling users have: --key value, --key=value,
// a bare --flag (true), Megatron's hyphenated flags (--tensor-model-parallel-size 2) including
// store_false ones (--no-bias-swiglu-fusion, --disable-bias-linear), and list flags taking several
// values (--data-path 0.3 a 0.7 b). Unknown flags are errors with the closest names.
#pragma once

#include <string>
#include <vector>

#include "config/layer.hpp"

namespace primus::config {

Layer parse_command_line_overrides(const std::vector<std::string>& tokens);

}  // namespace primus::config
