// ${VAR} and ${VAR:default} in YAML keys and values, as Primus substitutes them before merging.
#pragma once

#include <string>

namespace primus::config {

// Replaces every ${VAR} / ${VAR:default} in `text`. An unset VAR without a default is an error
// naming `where` (file:line). `used_env` receives the names of variables that were set and used.
std::string substitute_env(const std::string& text, const std::string& where, std::string* used_env = nullptr);

}  // namespace primus::config
