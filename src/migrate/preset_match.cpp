#include "migrate/preset_match.hpp"

#include <algorithm>
#include <cctype>
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

// "Meta-Llama-3-70B" -> "metallama370b": hints and family names compared without case or punctuation.
std::string squash(const std::string& text) {
  std::string out;
  for (char c : text)
    if (std::isalnum(static_cast<unsigned char>(c))) out += char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A preset's family from its family base ("llama3_base.yaml" -> "llama3"), "" for the generic root.
std::string family_of(const std::string& family_base) {
  std::string stem = fs::path(family_base).stem().string();
  if (!stem.ends_with("_base") || stem == "llama_base") return "";
  return squash(stem.substr(0, stem.size() - 5));
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
  auto resolve = [&](const char* overrides) {
    io::write_file_atomically(
        experiment, fmt::format("model: {}\noverrides: {}\n", fs::absolute(preset).string(), overrides), false);
    config::ResolveOptions options;
    options.config = experiment;
    options.world_size = 1;
    return final_values_of(config::resolve(options));
  };
  try {
    return resolve("{}");
  } catch (const Error&) {
    // A preset that carries its own parallel layout (deepseek_v2_lite's expert_model_parallel_size
    // 8) is still a model: its architecture does not depend on the layout.
    return resolve(
        "{tensor_model_parallel_size: 1, pipeline_model_parallel_size: 1, context_parallel_size: 1, "
        "expert_model_parallel_size: 1, expert_tensor_parallel_size: null}");
  }
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

PresetMatch match_preset(const ValueMap& megatron, const fs::path& scratch, const std::string& family_hints) {
  const std::string hints = squash(family_hints);
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
    for (const auto& key : c.architecture_differences) {
      int w = architecture_weight(key, megatron, c.values);
      c.distance += w;
      if (w >= kKindWeight) c.kind_distance += w;
    }
    c.family_base = family_base_of(path);
    std::string family = family_of(c.family_base);
    c.same_family = !family.empty() && hints.find(family) != std::string::npos;
    for (const auto& [key, value] : megatron) {
      auto it = c.values.find(key);
      if (is_compared_key(key) && !is_architecture_key(key) && it != c.values.end() && !(it->second == value))
        ++c.other_differences;
    }
    match.ranking.push_back(std::move(c));
  }
  if (match.ranking.empty()) fail("{}: no model preset could be resolved", config::builtin_models_dir().string());
  // Exact matches first; then presets of the model's kind, its family before others, the closest
  // by weighted distance.
  std::stable_sort(match.ranking.begin(), match.ranking.end(), [](const PresetCandidate& a, const PresetCandidate& b) {
    bool ea = a.architecture_differences.empty(), eb = b.architecture_differences.empty();
    if (ea != eb) return ea;
    if (a.kind_distance != b.kind_distance) return a.kind_distance < b.kind_distance;
    if (a.same_family != b.same_family) return a.same_family;
    if (a.distance != b.distance) return a.distance < b.distance;
    return a.other_differences < b.other_differences;
  });
  match.family_base = match.best().family_base;
  // The script names a family other than the one that matched: say how close that family came.
  if (!match.best().same_family && !hints.empty()) {
    for (const auto& c : match.ranking) {
      if (!c.same_family || c.kind_distance > 0 || c.architecture_differences.empty() ||
          c.architecture_differences.size() > 2)
        continue;
      std::string diffs;
      for (const auto& key : c.architecture_differences)
        diffs += fmt::format("{}{} {} here, {} there", diffs.empty() ? "" : "; ", key, show(megatron, key),
                             show(c.values, key));
      match.family_note = fmt::format(
          "the script names the {} family (its tokenizer or file name), and {} differs from it only in {}: {}",
          fs::path(c.family_base).stem().string().substr(0, fs::path(c.family_base).stem().string().size() - 5),
          c.name, c.architecture_differences.size() == 1 ? "one key" : "two keys", diffs);
      break;
    }
  }
  return match;
}

}  // namespace primus::migrate
