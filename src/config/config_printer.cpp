#include "config/config_printer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/experiment_file.hpp"

namespace primus::config {

namespace {

std::string yaml(const ResolvedConfig& c, bool explain) {
  std::string out = fmt::format("# primus config show: {}{}\n", display_path(c.experiment),
                                c.model_preset.empty() ? "" : " (model " + display_path(c.model_preset) + ")");
  out += "# Every argument, resolved. This file is itself a valid experiment (flat form).\n";
  for (const auto& [key, s] : c.values) {
    out += key + ": " + s.value.to_yaml();
    if (explain) out += "  # " + s.origin.kind_name() + ": " + s.origin.describe();
    out += "\n";
  }
  out += "# Derived (not settable):\n";
  for (const auto& [key, s] : c.derived) out += "#   " + key + ": " + s.value.to_yaml() + "  (" + s.origin.detail + ")\n";
  return out;
}

std::string json(const ResolvedConfig& c, bool explain) {
  // Keys of values and derived never collide (derived names are not arguments); one sorted object.
  std::map<std::string, const Setting*> all;
  for (const auto& [k, s] : c.values) all[k] = &s;
  for (const auto& [k, s] : c.derived) all[k] = &s;
  std::string out = "{\n";
  bool first = true;
  for (const auto& [key, s] : all) {
    out += first ? "" : ",\n";
    first = false;
    out += "  " + nlohmann::json(key).dump() + ": ";
    if (explain)
      out += fmt::format("{{\"value\": {}, \"from\": {}, \"origin\": {}}}", s->value.to_json(),
                         nlohmann::json(s->origin.kind_name()).dump(), nlohmann::json(s->origin.describe()).dump());
    else
      out += s->value.to_json();
  }
  return out + "\n}\n";
}

}  // namespace

std::string format_resolved(const ResolvedConfig& config, OutputFormat format, bool explain) {
  return format == OutputFormat::kJson ? json(config, explain) : yaml(config, explain);
}

}  // namespace primus::config
