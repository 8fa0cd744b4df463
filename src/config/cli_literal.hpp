// Upstream Primus' reading of a value typed on the command line (its `key=value` overrides):
// true/false in any case are booleans, None/null are null, Python-style integers (1_000, 0x10)
// and floats (1e-5, .5) are numbers, [..] / (..) are lists, a quoted '...' is text without its
// quotes, and anything else is the text as written ("seq_aux_loss", "99,1,0").
#pragma once

#include <string>

#include "config/value.hpp"

namespace primus::config {

Value parse_cli_literal(const std::string& text);

}  // namespace primus::config
