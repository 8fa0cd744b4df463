// Prints a resolved configuration: flat YAML (readable, and itself a valid experiment file) or
// one JSON object with sorted keys; --explain adds where each value came from.
#pragma once

#include <string>

#include "config/resolved_config.hpp"

namespace primus::config {

enum class OutputFormat { kYaml, kJson };

std::string format_resolved(const ResolvedConfig& config, OutputFormat format, bool explain);

}  // namespace primus::config
