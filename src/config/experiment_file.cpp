#include "config/experiment_file.hpp"

#include "config/config_paths.hpp"
#include "config/yaml_reader.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace fs = std::filesystem;

namespace primus::config {

namespace {

constexpr const char* kFullPrefix = "modules.pre_trainer.";

std::string at(const ExperimentFile& f, int line) { return display_path(f.path) + ":" + std::to_string(line); }

void add_override(ExperimentFile& f, const std::string& key, const YamlEntry& e) {
  if (key.empty()) return;
  f.overrides.set(key, Setting{e.value, Origin{Origin::Kind::kExperiment, display_path(f.path), e.line, e.env_var, {}}});
}

// "overrides:" holds key: value lines; a list or a single value under it would otherwise be read as
// an empty section and every setting in it lost.
void check_overrides_section(const ExperimentFile& f, const YamlEntry& e) {
  if (e.value.is_null()) return;  // "overrides:" or "overrides: {}" with nothing under it
  fail("{}: {} must be a mapping of key: value lines (one per setting, indented under it); got {} {}", at(f, e.line),
       e.key, e.value.is_list() ? "a list" : "a single value", e.value.for_message());
}

std::string text_of(const ExperimentFile& f, const YamlEntry& e) {
  if (!e.value.is_string()) fail("{}: {} must be a file name, got {}", at(f, e.line), e.key, e.value.for_message());
  return e.value.as_string();
}

}  // namespace

ExperimentFile read_experiment_file(const fs::path& path) {
  YamlFile yaml = read_yaml_file(path);
  ExperimentFile f;
  f.path = path;
  if (yaml.entries.empty())
    fail("{}: the experiment file is empty; it needs a model preset (model: tiny_llama.yaml) and its overrides, "
         "or the settings themselves",
         display_path(path));
  bool full = false, short_form = false;
  for (const auto& e : yaml.entries) {
    full |= e.key.starts_with("modules.") || e.key == "modules";
    short_form |= e.key == "model" || e.key == "overrides" || e.key.starts_with("overrides.");
  }
  if (full && short_form)
    fail("{}: mixes the full form (modules.pre_trainer) with the short form (model/overrides); use one",
         display_path(path));

  for (const auto& e : yaml.entries) {
    const std::string& k = e.key;
    if (full && k.starts_with("modules.")) {
      if (!k.starts_with(kFullPrefix))
        fail("{}: module '{}' is not supported: this engine runs the pre_trainer module (pretraining)",
             at(f, e.line), k.substr(8, k.find('.', 8) - 8));
      std::string field = k.substr(std::string(kFullPrefix).size());
      if (field == "framework") {
        if (!e.value.is_string() || e.value.as_string() != "megatron")
          fail("{}: framework '{}' is not supported; this engine implements 'megatron'", at(f, e.line),
               printable(e.value.to_display()));
      } else if (field == "config") {
        f.module_config = text_of(f, e);
        f.module_config_at = at(f, e.line);
      } else if (field == "model") {
        f.model = text_of(f, e);
        f.model_at = at(f, e.line);
      } else if (field == "overrides") {
        check_overrides_section(f, e);
      } else if (field.starts_with("overrides.")) {
        add_override(f, field.substr(10), e);
      } else {
        fail("{}: unknown field 'modules.pre_trainer.{}'; expected framework, config, model or overrides",
             at(f, e.line), field);
      }
    } else if (k == "modules") {
      fail("{}: 'modules' is empty; it needs a pre_trainer section", at(f, e.line));
    } else if (short_form && k == "model") {
      f.model = text_of(f, e);
      f.model_at = at(f, e.line);
    } else if (short_form && k == "config") {
      f.module_config = text_of(f, e);
      f.module_config_at = at(f, e.line);
    } else if (short_form && k == "overrides") {
      check_overrides_section(f, e);
    } else if (short_form && k.starts_with("overrides.")) {
      add_override(f, k.substr(10), e);
    } else {
      // Top-level keys: experiment fields (work_group, ...) or, in the flat form, any argument.
      add_override(f, k, e);
    }
  }
  return f;
}

}  // namespace primus::config
