#include "migrate/preset_match.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include <fmt/format.h>

#include "config/config_paths.hpp"
#include "config/resolved_config.hpp"
#include "config/schema.hpp"
#include "config/yaml_reader.hpp"
#include "core/error.hpp"
#include "migrate/architecture_keys.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

bool is_base_file(const std::string& stem) { return stem == "language_model" || stem.ends_with("_base"); }

std::vector<std::string> parents_of(const fs::path& preset) {
  std::vector<std::string> out;
  config::YamlFile file = config::read_yaml_file(preset);
  for (const char* key : {"bases", "extends"})
    if (const config::YamlEntry* e = file.find(key)) {
      if (e->value.is_list()) {
        for (const auto& v : e->value.as_list())
          if (v.is_string()) out.push_back(v.as_string());
      } else if (e->value.is_string()) {
        out.push_back(e->value.as_string());
      }
    }
  return out;
}

// The nearest ancestor that is a family base (llama3_base, mixtral_base, ...), llama_base only
// when nothing more specific exists.
std::string family_base_of(const fs::path& preset) {
  std::deque<fs::path> queue{preset};
  std::set<std::string> seen;
  std::string generic;
  while (!queue.empty()) {
    fs::path p = queue.front();
    queue.pop_front();
    for (const auto& parent : parents_of(p)) {
      auto found = config::find_config_file(parent, config::search_dirs(p.parent_path(), config::builtin_models_dir()));
      if (!found || !seen.insert(found->filename().string()).second) continue;
      std::string stem = found->stem().string();
      if (stem.ends_with("_base") && stem != "llama_base") return found->filename().string();
      if (is_base_file(stem) && generic.empty()) generic = found->filename().string();
      queue.push_back(*found);
    }
  }
  return generic.empty() ? preset.filename().string() : generic;
}

std::string show(const ValueMap& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "unset" : it->second.to_yaml();
}

}  // namespace

bool is_compared_key(const std::string& key) {
  const config::ArgumentSpec* spec = config::Schema::instance().find(key);
  return !(spec && spec->group == "experiment");
}

ValueMap resolve_preset_values(const fs::path& preset, const fs::path& scratch) {
  fs::path experiment = scratch / ("match-" + preset.stem().string() + ".yaml");
  io::write_file_atomically(experiment, fmt::format("model: {}\noverrides: {{}}\n", fs::absolute(preset).string()), false);
  config::ResolveOptions options;
  options.config = experiment;
  options.world_size = 1;
  return final_values_of(config::resolve(options));
}

std::string PresetMatch::explain_closest(const ValueMap& megatron) const {
  if (ranking.empty()) return "no model preset could be resolved";
  const PresetCandidate& c = best();
  constexpr size_t kShown = 5;
  std::string diffs;
  for (size_t i = 0; i < c.architecture_differences.size() && i < kShown; ++i) {
    const std::string& key = c.architecture_differences[i];
    diffs += fmt::format("{}{} {} here, {} there", diffs.empty() ? "" : "; ", key, show(megatron, key),
                         show(c.values, key));
  }
  if (c.architecture_differences.size() > kShown)
    diffs += fmt::format("; {} more", c.architecture_differences.size() - kShown);
  return fmt::format("closest zoo preset: {} ({})", c.name, diffs);
}

PresetMatch match_preset(const ValueMap& megatron, const fs::path& scratch) {
  PresetMatch match;
  std::vector<fs::path> presets;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config::builtin_models_dir(), ec))
    if (entry.path().extension() == ".yaml" && !is_base_file(entry.path().stem().string()))
      presets.push_back(entry.path());
  std::sort(presets.begin(), presets.end());
  for (const auto& path : presets) {
    PresetCandidate c;
    c.name = path.filename().string();
    c.path = path;
    try {
      c.values = resolve_preset_values(path, scratch);
    } catch (const Error&) {
      continue;  // a preset that does not resolve on its own cannot be the match
    }
    c.architecture_differences = architecture_differences(megatron, c.values);
    for (const auto& [key, value] : megatron) {
      auto it = c.values.find(key);
      if (is_compared_key(key) && !is_architecture_key(key) && it != c.values.end() && !(it->second == value))
        ++c.other_differences;
    }
    match.ranking.push_back(std::move(c));
  }
  if (match.ranking.empty()) fail("{}: no model preset could be resolved", config::builtin_models_dir().string());
  std::stable_sort(match.ranking.begin(), match.ranking.end(), [](const PresetCandidate& a, const PresetCandidate& b) {
    if (a.architecture_differences.size() != b.architecture_differences.size())
      return a.architecture_differences.size() < b.architecture_differences.size();
    return a.other_differences < b.other_differences;
  });
  match.family_base = family_base_of(match.best().path);
  return match;
}

}  // namespace primus::migrate
