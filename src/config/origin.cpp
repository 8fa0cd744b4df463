#include "config/origin.hpp"

#include <filesystem>

#include <fmt/format.h>

namespace primus::config {

std::string Origin::describe() const {
  std::string where;
  switch (kind) {
    case Kind::kCommandLine: where = detail.empty() ? "command line" : fmt::format("command line ({})", detail); break;
    case Kind::kDerived: where = fmt::format("derived ({})", detail); break;
    default: where = line > 0 ? fmt::format("{}:{}", file, line) : file; break;
  }
  if (!env_var.empty()) where += fmt::format(" via ${}", env_var);
  return where;
}

std::string Origin::kind_name() const {
  switch (kind) {
    case Kind::kDefault: return "default";
    case Kind::kPreset: return "preset";
    case Kind::kExperiment: return "experiment";
    case Kind::kCommandLine: return "command line";
    case Kind::kDerived: return "derived";
  }
  return "?";
}

}  // namespace primus::config
