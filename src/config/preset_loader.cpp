#include "config/preset_loader.hpp"

#include <algorithm>
#include <vector>

#include "config/closest_names.hpp"
#include "config/config_paths.hpp"
#include "config/yaml_reader.hpp"
#include "core/error.hpp"

namespace fs = std::filesystem;

namespace primus::config {

namespace {

bool is_parent_key(const std::string& key) { return key == "bases" || key == "extends"; }

fs::path locate(const PresetRequest& r) {
  std::string name = r.name;
  if (fs::path(name).extension() != ".yaml" && fs::path(name).extension() != ".yml") name += ".yaml";
  auto dirs = search_dirs(r.referrer_dir, r.builtin_dir);
  if (auto found = find_config_file(name, dirs)) return *found;
  std::string where = r.referred_at.empty() ? std::string("") : r.referred_at + ": ";
  std::string looked;
  for (const auto& d : dirs) looked += (looked.empty() ? "" : ", ") + d.string();
  fail("{}'{}' not found (looked in {}){}", where, name, looked, did_you_mean(name, yaml_names_in(dirs)));
}

Layer load(const PresetRequest& request, std::vector<fs::path>& stack, fs::path* resolved) {
  fs::path path = locate(request);
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  if (ec) canonical = fs::absolute(path, ec).lexically_normal();  // unreadable: read_yaml_file says why
  if (auto it = std::find(stack.begin(), stack.end(), canonical); it != stack.end()) {
    std::string chain;
    for (; it != stack.end(); ++it) chain += it->filename().string() + " -> ";
    fail("{}: cycle of bases: {}{}", request.referred_at, chain, canonical.filename().string());
  }
  if (resolved) *resolved = path;
  stack.push_back(canonical);
  YamlFile file = read_yaml_file(path);

  Layer merged;
  for (const auto& e : file.entries) {
    if (!is_parent_key(e.key)) continue;
    std::string at = display_path(path) + ":" + std::to_string(e.line);
    std::vector<Value> parents;
    if (e.value.is_list()) parents = e.value.as_list();
    else if (!e.value.is_null()) parents.push_back(e.value);
    for (const auto& p : parents) {
      if (!p.is_string()) fail("{}: {} lists file names; got {}", at, e.key, p.for_message());
      PresetRequest parent{p.as_string(), path.parent_path(), request.builtin_dir, at, request.kind};
      merged.merge_from(load(parent, stack, nullptr));
    }
  }
  for (const auto& e : file.entries) {
    if (is_parent_key(e.key)) continue;
    merged.set(e.key, Setting{e.value, Origin{request.kind, display_path(path), e.line, e.env_var, {}}});
  }
  stack.pop_back();
  return merged;
}

}  // namespace

LoadedPreset load_preset_chain(const PresetRequest& request) {
  std::vector<fs::path> stack;
  LoadedPreset out;
  out.layer = load(request, stack, &out.path);
  return out;
}

}  // namespace primus::config
