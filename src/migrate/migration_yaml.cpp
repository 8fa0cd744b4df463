#include "migrate/migration_yaml.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "config/schema.hpp"
#include "core/error.hpp"
#include "migrate/config_sections.hpp"

namespace primus::migrate {

namespace {

// Schema order keeps related keys together (num_layers before hidden_size, lr before min_lr).
size_t schema_index(const std::string& key) {
  const auto& all = config::Schema::instance().all();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i].key == key) return i;
  return all.size();
}

bool contains_substitution(const config::Value& v) {
  if (v.is_string()) return v.as_string().find("${") != std::string::npos;
  if (v.is_list())
    return std::any_of(v.as_list().begin(), v.as_list().end(), [](const auto& x) { return contains_substitution(x); });
  return false;
}

std::string line_for(const OverrideEntry& e, const std::string& indent) {
  // The reader substitutes ${VAR} in every value; a literal one cannot be written faithfully.
  if (contains_substitution(e.value))
    fail("{}: value {} contains '${{', which Primus would read as an environment variable; set it by hand",
         e.key, e.value.to_yaml());
  std::string line = fmt::format("{}{}: {}", indent, e.key, e.value.to_yaml());
  if (!e.comment.empty()) line += "  # " + e.comment;
  return line + "\n";
}

std::string comment_block(const std::vector<std::string>& lines, const std::string& indent) {
  std::string out;
  for (const auto& l : lines) out += indent + (l.empty() ? "#" : "# " + l) + "\n";
  return out;
}

std::vector<OverrideEntry> sorted(std::vector<OverrideEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const OverrideEntry& a, const OverrideEntry& b) {
    return schema_index(a.key) < schema_index(b.key);
  });
  return entries;
}

}  // namespace

std::string render_experiment(const ExperimentText& x) {
  std::string out = comment_block(x.header, "");
  out += "work_group: ${TEAM:amd}\n";
  out += "user_name: ${USER:root}\n";
  out += fmt::format("exp_name: ${{EXP_NAME:{}}}\n", x.exp_name);
  out += "workspace: ./output\n\n";
  out += "modules:\n  pre_trainer:\n    framework: megatron\n    config: pre_trainer.yaml\n";
  out += fmt::format("    model: {}\n", x.model);
  if (x.overrides.empty() && x.inert.empty() && x.trailing.empty()) return out + "    overrides: {}\n";
  out += "    overrides:\n";
  std::map<Section, std::vector<OverrideEntry>> by_section;
  for (const auto& e : sorted(x.overrides)) by_section[section_of(e.key)].push_back(e);
  bool first = true;
  for (Section s : kAllSections) {
    auto it = by_section.find(s);
    if (it == by_section.end()) continue;
    out += fmt::format("{}      # {}\n", first ? "" : "\n", section_title(s));
    first = false;
    for (const auto& e : it->second) out += line_for(e, "      ");
  }
  if (!x.inert.empty()) {
    out += fmt::format("{}      # --- values that cannot affect this run (kept for the lossless proof) ---\n",
                       first ? "" : "\n");
    first = false;
    for (const auto& e : sorted(x.inert)) out += line_for(e, "      ");
  }
  if (!x.trailing.empty()) {
    if (!first) out += "\n";
    out += comment_block(x.trailing, "      ");
  }
  return out;
}

std::string render_preset(const PresetText& p) {
  std::string out = comment_block(p.header, "");
  out += fmt::format("bases:\n  - {}\n\n", p.base);
  for (const auto& e : sorted(p.keys)) out += line_for(e, "");
  return out;
}

}  // namespace primus::migrate
