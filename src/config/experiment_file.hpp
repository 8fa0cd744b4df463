// An experiment file in any of the forms users have:
//   full upstream form: work_group/user_name/exp_name/workspace + modules.pre_trainer (or
//                       modules.post_trainer, a fine-tuning run) {framework, config, model,
//                       overrides, trainer_class}
//   short form:         model: NAME.yaml + overrides: {...}
//   flat form:          key: value lines only (what `primus config show --format yaml` prints)
// An experiment may `extends:` other experiment files (upstream's form): they merge deeply, the
// parents first (in order), the file itself last.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config_paths.hpp"
#include "config/layer.hpp"

namespace primus::config {

struct ExperimentFile {
  std::filesystem::path path;
  std::string module = "pre_trainer";               // pre_trainer (pretraining) or post_trainer (fine-tuning)
  std::string module_config = "pre_trainer.yaml";  // trainer defaults to start from
  std::string module_config_at;                     // file:line naming it ("" = implied)
  std::optional<std::string> model;                 // model preset, when the file names one
  std::string model_at;
  std::optional<std::string> trainer_class;         // upstream's custom trainer (e.g. a diffusion trainer)
  std::string trainer_class_at;
  Layer overrides;                                  // the experiment's own settings
  // What the file holds that sets no argument, for one note each: top-level keys of the full form
  // outside the module (upstream ignores them too) and environment variables written as overrides.
  std::vector<std::string> ignored_top_level;       // "lr (file.yaml:21)"
  std::vector<std::string> environment_like;        // "HSA_NO_SCRATCH_RECLAIM (file.yaml:63)"
};

ExperimentFile read_experiment_file(const std::filesystem::path& path);

}  // namespace primus::config
