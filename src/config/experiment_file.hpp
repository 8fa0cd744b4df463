// An experiment file in any of the forms users have:
//   full upstream form: work_group/user_name/exp_name/workspace + modules.pre_trainer
//                       {framework, config, model, overrides}
//   short form:         model: NAME.yaml + overrides: {...}
//   flat form:          key: value lines only (what `primus config show --format yaml` prints)
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config_paths.hpp"
#include "config/layer.hpp"

namespace primus::config {

struct ExperimentFile {
  std::filesystem::path path;
  std::string module_config = "pre_trainer.yaml";  // trainer defaults to start from
  std::string module_config_at;                     // file:line naming it ("" = implied)
  std::optional<std::string> model;                 // model preset, when the file names one
  std::string model_at;
  Layer overrides;                                  // the experiment's own settings
};

ExperimentFile read_experiment_file(const std::filesystem::path& path);

}  // namespace primus::config
