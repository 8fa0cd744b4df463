// Reads one YAML configuration file into an ordered list of flat entries: nested mappings become
// dotted keys ("modules.pre_trainer.model"), sequences become lists, scalars get ${VAR}
// substitution and Primus' type conversion. Each entry keeps its line for error messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/value.hpp"

namespace primus::config {

struct YamlEntry {
  std::string key;
  Value value;
  int line = 0;
  std::string env_var;  // variables substituted into the value
};

struct YamlFile {
  std::filesystem::path path;
  std::vector<YamlEntry> entries;

  const YamlEntry* find(const std::string& key) const;
  // Short name for messages: the path as the user can read it.
  std::string name() const { return path.string(); }
};

// Bounds: a configuration file is at most 16 MiB, nests at most 32 levels and expands (aliases
// included) to at most 100000 values; past them reading stops with an error naming the line.
inline constexpr std::uint64_t kMaxYamlFileBytes = 16u << 20;
inline constexpr int kMaxYamlDepth = 32;
inline constexpr std::size_t kMaxYamlValues = 100000;
inline constexpr std::size_t kMaxKeyBytes = 1024;

// Throws primus::Error on a missing file (or a folder, a device, a symbolic-link loop), bad YAML (with line and column), a duplicate key, a
// top level that is not a mapping, or an unset required ${VAR}.
YamlFile read_yaml_file(const std::filesystem::path& path);

}  // namespace primus::config
