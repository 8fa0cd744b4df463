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
  std::string family_base;                         // "llama3_base.yaml"
  ValueMap values;                                 // resolved on Primus' trainer defaults, world size 1
  std::vector<std::string> architecture_differences;
  int kind_distance = 0;                           // weight of differing keys that change the model's kind
  int distance = 0;                                // weighted architecture distance (architecture_weight)
  bool same_family = false;                        // the script's hints name this preset's family
  size_t other_differences = 0;                    // non-architecture keys that would need overriding
};

struct PresetMatch {
  std::vector<PresetCandidate> ranking;            // best first
  std::string family_base;                         // of the best candidate, e.g. "llama3_base.yaml"
  // Set when the script names a family (tokenizer, file name) whose closest preset differs from
  // the script in a key or two: "the script looks like Llama 3 (...): llama3_70B.yaml differs only in ...".
  std::string family_note;

  bool exact() const { return !ranking.empty() && ranking.front().architecture_differences.empty(); }
  const PresetCandidate& best() const { return ranking.front(); }
  // "closest: llama3_8B.yaml (num_layers 16 here, 32 there; ...)" for messages.
  std::string explain_closest(const ValueMap& megatron) const;
};

// `scratch` receives the small experiment files used to resolve each preset. `family_hints` is
// text that may name the model's family (the tokenizer, the script's file name): presets of that
// family rank first among those of the same kind (dense/MoE, latent attention, Mamba, ...).
PresetMatch match_preset(const ValueMap& megatron, const std::filesystem::path& scratch,
                         const std::string& family_hints = "");

// A preset resolved as a model of its own (Primus' trainer defaults, world size 1).
ValueMap resolve_preset_values(const std::filesystem::path& preset, const std::filesystem::path& scratch);

// Keys compared between a Megatron reading and a Primus resolution: every schema key and the
// derived layout values, except the run-folder keys (work_group, user_name, exp_name, workspace).
bool is_compared_key(const std::string& key);

}  // namespace primus::migrate
