// Finds the model zoo preset a script's model is: each preset of primus/configs/models/megatron
// is resolved on Primus' trainer defaults and its architecture keys compared with the script's
// (read on Megatron's defaults). All equal: the experiment names that preset. Otherwise the
// closest preset's family base (llama3_base.yaml, mixtral_base.yaml, ...) is where a new preset
// starts from.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "migrate/megatron_reading.hpp"

namespace primus::migrate {

struct PresetCandidate {
  std::string name;                                // "llama3.1_8B.yaml"
  std::filesystem::path path;
  ValueMap values;                                 // resolved on Primus' trainer defaults, world size 1
  std::vector<std::string> architecture_differences;
  size_t other_differences = 0;                    // non-architecture keys that would need overriding
};

struct PresetMatch {
  std::vector<PresetCandidate> ranking;            // best first
  std::string family_base;                         // of the best candidate, e.g. "llama3_base.yaml"

  bool exact() const { return !ranking.empty() && ranking.front().architecture_differences.empty(); }
  const PresetCandidate& best() const { return ranking.front(); }
  // "closest: llama3_8B.yaml (num_layers 16 here, 32 there; ...)" for messages.
  std::string explain_closest(const ValueMap& megatron) const;
};

// `scratch` receives the small experiment files used to resolve each preset.
PresetMatch match_preset(const ValueMap& megatron, const std::filesystem::path& scratch);

// A preset resolved as a model of its own (Primus' trainer defaults, world size 1).
ValueMap resolve_preset_values(const std::filesystem::path& preset, const std::filesystem::path& scratch);

// Keys compared between a Megatron reading and a Primus resolution: every schema key and the
// derived layout values, except the run-folder keys (work_group, user_name, exp_name, workspace).
bool is_compared_key(const std::string& key);

}  // namespace primus::migrate
