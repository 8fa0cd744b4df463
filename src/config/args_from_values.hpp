// Typed Args from the resolver's typed values (fields absent from `values` keep their zero value).
#pragma once

#include <map>
#include <string>

#include "config/args.hpp"
#include "config/layer.hpp"

namespace primus::config {

Args args_from_values(const std::map<std::string, Setting>& values);

}  // namespace primus::config
