// Where configuration files are found: the experiment's own folder, then the built-in presets
// shipped with the binary, then each folder of PRIMUS_CONFIG_PATH (colon-separated).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace primus::config {

// Root of the installed/checked-out project (holds primus/configs): $PRIMUS_HOME, else the first
// parent of the running binary that has primus/configs, else the source tree it was built from.
std::filesystem::path primus_home();
std::filesystem::path builtin_models_dir();   // primus/configs/models/megatron
std::filesystem::path builtin_modules_dir();  // primus/configs/modules/megatron

// Path shown in messages: relative to the project for built-in files, else as given.
std::string display_path(const std::filesystem::path& path);

// Folders searched for `name` referenced from a file in `referrer_dir`, in order.
std::vector<std::filesystem::path> search_dirs(const std::filesystem::path& referrer_dir,
                                               const std::filesystem::path& builtin_dir);

// First existing `name` in `dirs` (absolute names are taken as they are).
std::optional<std::filesystem::path> find_config_file(const std::string& name,
                                                      const std::vector<std::filesystem::path>& dirs);

// YAML file names in `dirs`, for suggestions.
std::vector<std::string> yaml_names_in(const std::vector<std::filesystem::path>& dirs);

}  // namespace primus::config
