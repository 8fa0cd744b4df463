// Settings given on the command line, in every spelling users have: --key value, --key=value,
// upstream's bare key=value, a bare --flag (true) or --flag true|false, Megatron's hyphenated flags
// (--tensor-model-parallel-size 2) including store_false ones (--no-bias-swiglu-fusion,
// --disable-bias-linear), dotted keys into nested blocks (torch_compile.enable=true), and list
// flags taking several values (--data-path 0.3 a 0.7 b). Values follow upstream's CLI literal
// rules (see cli_literal.hpp). Unknown flags are errors with the closest names.
#pragma once

#include <string>
#include <vector>

#include "config/layer.hpp"

namespace primus::config {

enum class ListValues {
  kAsWritten,  // a single value stays a scalar, as upstream keeps `--key value` (Primus command line)
  kMegatron,   // a list flag always gives a list, as Megatron's argparse nargs does (launch scripts)
};

Layer parse_command_line_overrides(const std::vector<std::string>& tokens, ListValues lists = ListValues::kAsWritten);

}  // namespace primus::config
