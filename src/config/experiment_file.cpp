#include "config/experiment_file.hpp"

#include <algorithm>
#include <cctype>

#include "config/config_paths.hpp"
#include "config/yaml_reader.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace fs = std::filesystem;

namespace primus::config {

namespace {

// An entry of the merged experiment, with the file it came from (extends: merges several files).
struct SourcedEntry {
  YamlEntry entry;
  fs::path file;
};

std::string at(const fs::path& file, int line) { return display_path(file) + ":" + std::to_string(line); }
std::string at(const SourcedEntry& s) { return at(s.file, s.entry.line); }

bool is_environment_name(const std::string& key) {
  if (key.empty() || !std::isupper(static_cast<unsigned char>(key[0]))) return false;
  for (char c : key)
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

// The later entry replaces what it overlaps: the same key, the keys under it, the keys above it
// (a nested map merges key by key; a value replaces a whole map, as upstream's deep merge does).
void overlay(std::vector<SourcedEntry>& merged, const SourcedEntry& later) {
  const std::string& k = later.entry.key;
  std::erase_if(merged, [&](const SourcedEntry& s) {
    const std::string& m = s.entry.key;
    return m == k || m.starts_with(k + ".") || k.starts_with(m + ".");
  });
  merged.push_back(later);
}

std::vector<SourcedEntry> load_entries(const fs::path& path, std::vector<fs::path>& stack, const std::string& referred_at) {
  if (!referred_at.empty() && !fs::is_regular_file(path))
    fail("{}: experiment '{}' not found (extends names files relative to the experiment that extends them)",
         referred_at, printable(path.string()));
  fs::path canonical = fs::weakly_canonical(path);
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
    fail("{}: experiments extend each other in a cycle ({})", referred_at, printable(path.filename().string()));
  stack.push_back(canonical);
  YamlFile yaml = read_yaml_file(path);
  std::vector<SourcedEntry> merged;
  for (const auto& e : yaml.entries) {
    if (e.key != "extends") continue;
    std::vector<Value> parents;
    if (e.value.is_list()) parents = e.value.as_list();
    else if (!e.value.is_null()) parents.push_back(e.value);
    for (const auto& p : parents) {
      if (!p.is_string()) fail("{}: extends lists experiment files; got {}", at(path, e.line), p.for_message());
      fs::path parent = fs::path(p.as_string()).is_absolute() ? fs::path(p.as_string()) : path.parent_path() / p.as_string();
      for (auto& s : load_entries(parent.lexically_normal(), stack, at(path, e.line))) overlay(merged, s);
    }
  }
  for (const auto& e : yaml.entries)
    if (e.key != "extends") overlay(merged, SourcedEntry{e, path});
  stack.pop_back();
  return merged;
}

void add_override(ExperimentFile& f, const std::string& key, const SourcedEntry& s) {
  if (key.empty()) return;
  if (is_environment_name(key)) {  // HSA_NO_SCRATCH_RECLAIM: 1 among the overrides
    f.environment_like.push_back(key + " (" + at(s) + ")");
    return;
  }
  f.overrides.set(key, Setting{s.entry.value, Origin{Origin::Kind::kExperiment, display_path(s.file), s.entry.line,
                                                     s.entry.env_var, {}}});
}

// "overrides:" holds key: value lines; a list or a single value under it would otherwise be read as
// an empty section and every setting in it lost.
void check_overrides_section(const SourcedEntry& s) {
  const YamlEntry& e = s.entry;
  if (e.value.is_null()) return;  // "overrides:" or "overrides: {}" with nothing under it
  fail("{}: {} must be a mapping of key: value lines (one per setting, indented under it); got {} {}", at(s), e.key,
       e.value.is_list() ? "a list" : "a single value", e.value.for_message());
}

std::string text_of(const SourcedEntry& s) {
  const YamlEntry& e = s.entry;
  if (!e.value.is_string()) fail("{}: {} must be a file name, got {}", at(s), e.key, e.value.for_message());
  const std::string& text = e.value.as_string();
  if (auto lt = text.find('<'); lt != std::string::npos && text.find('>', lt) != std::string::npos)
    fail("{}: {} '{}' is a placeholder: this file is a template; put the name of a real file there", at(s), e.key,
         printable(text));
  return text;
}

// Keys of the full form's top level that upstream reads: the run folder's parts and the platform.
bool is_experiment_field(const std::string& key) {
  return key == "work_group" || key == "user_name" || key == "exp_name" || key == "workspace";
}

// Which module to read: the pretraining one when both are there.
std::string module_of(const std::vector<SourcedEntry>& entries) {
  bool pre = false, post = false;
  for (const auto& s : entries) {
    pre |= s.entry.key.starts_with("modules.pre_trainer");
    post |= s.entry.key.starts_with("modules.post_trainer");
  }
  return post && !pre ? "post_trainer" : "pre_trainer";
}

}  // namespace

ExperimentFile read_experiment_file(const fs::path& path) {
  std::vector<fs::path> stack;
  std::vector<SourcedEntry> entries = load_entries(path, stack, "");
  ExperimentFile f;
  f.path = path;
  if (entries.empty())
    fail("{}: the experiment file is empty; it needs a model preset (model: tiny_llama.yaml) and its overrides, "
         "or the settings themselves",
         display_path(path));
  bool full = false, short_form = false, precision_recipe = false;
  for (const auto& s : entries) {
    const std::string& k = s.entry.key;
    full |= k.starts_with("modules.") || k == "modules";
    short_form |= k == "model" || k == "overrides" || k.starts_with("overrides.");
    precision_recipe |= k.starts_with("matchers.") || k.starts_with("configs.");
  }
  if (precision_recipe && !full && !short_form)
    fail("{}: this is a Transformer Engine precision recipe (configs: and matchers:, read through "
         "te_precision_config_file), not an experiment; FP8 training is not built here",
         display_path(path));
  if (full && short_form)
    fail("{}: mixes the full form (modules.pre_trainer) with the short form (model/overrides); use one",
         display_path(path));
  if (full) {
    f.module = module_of(entries);
    if (f.module == "post_trainer") f.module_config = "sft_trainer.yaml";
  }
  const std::string prefix = "modules." + f.module + ".";

  for (const auto& s : entries) {
    const YamlEntry& e = s.entry;
    const std::string& k = e.key;
    if (full && k.starts_with("modules.")) {
      std::string name = k.substr(8, k.find('.', 8) - 8);
      if (name != "pre_trainer" && name != "post_trainer")
        fail("{}: module '{}' is not supported: this engine runs the pre_trainer module (pretraining) and reads "
             "post_trainer (fine-tuning)",
             at(s), printable(name));
      if (!k.starts_with(prefix)) continue;  // the other module of an experiment that has both
      std::string field = k.substr(prefix.size());
      if (field == "framework") {
        if (!e.value.is_string() || e.value.as_string() != "megatron")
          fail("{}: framework '{}' is not supported; this engine implements 'megatron'", at(s),
               printable(e.value.to_display()));
      } else if (field == "config") {
        f.module_config = text_of(s);
        f.module_config_at = at(s);
      } else if (field == "model") {
        f.model = text_of(s);
        f.model_at = at(s);
      } else if (field == "trainer_class") {
        f.trainer_class = text_of(s);
        f.trainer_class_at = at(s);
      } else if (field == "overrides") {
        check_overrides_section(s);
      } else if (field.starts_with("overrides.")) {
        add_override(f, field.substr(10), s);
      } else {
        fail("{}: unknown field 'modules.{}.{}'; expected framework, config, model, overrides or trainer_class", at(s),
             f.module, printable(field));
      }
    } else if (k == "modules") {
      fail("{}: 'modules' is empty; it needs a pre_trainer section", at(s));
    } else if (short_form && k == "model") {
      f.model = text_of(s);
      f.model_at = at(s);
    } else if (short_form && k == "config") {
      f.module_config = text_of(s);
      f.module_config_at = at(s);
    } else if (short_form && k == "overrides") {
      check_overrides_section(s);
    } else if (short_form && k.starts_with("overrides.")) {
      add_override(f, k.substr(10), s);
    } else if (full && !is_experiment_field(k)) {
      // Upstream reads only the module and the run folder's fields of a full-form experiment.
      std::string top = k.substr(0, k.find('.'));
      std::string item = top + " (" + at(s) + ")";
      if (f.ignored_top_level.empty() || !f.ignored_top_level.back().starts_with(top + " ("))
        f.ignored_top_level.push_back(item);
    } else {
      // Top-level keys: experiment fields (work_group, ...) or, in the flat form, any argument.
      add_override(f, k, s);
    }
  }
  return f;
}

}  // namespace primus::config
