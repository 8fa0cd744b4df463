// The result of resolving an experiment: every argument's typed value with its origin, the
// derived values, the typed Args, and what a user should be told (notes, keys without effect).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/args.hpp"
#include "config/layer.hpp"

namespace primus::config {

// The most processes a run may name (--world-size, mpirun): far above any machine, far below any
// overflow of the counts derived from it.
inline constexpr int64_t kMaxWorldSize = int64_t{1} << 24;

struct ResolveOptions {
  std::filesystem::path config;                 // the experiment file
  std::vector<std::string> overrides;           // command-line tokens
  std::optional<int64_t> world_size;            // default: MPI/torchrun environment, else 1
  // `config show`: with neither of the above, the smallest world size the parallel layout allows
  // (said in a note) instead of 1, so a 70B experiment resolves on a laptop.
  bool smallest_world_when_unset = false;
};

struct ResolvedConfig {
  std::filesystem::path experiment;
  std::filesystem::path model_preset;           // empty for a flat experiment
  std::string module = "pre_trainer";           // post_trainer: a fine-tuning experiment (SFT/LoRA)
  std::map<std::string, Setting> values;        // every schema key, typed
  std::map<std::string, Setting> derived;       // world_size, data_parallel_size, ...
  std::vector<std::string> notes;               // adjustments made (e.g. sequence_parallel off)
  std::vector<std::string> without_effect;      // keys set by the user that this engine ignores
  std::vector<std::string> refused;             // "fp8 = 'hybrid': FP8 training is not built": train refuses these
  Args args;

  const Setting& at(const std::string& key) const;
};

// Loads, merges (defaults -> model presets -> experiment overrides -> command line), types,
// derives and validates. Every problem is a primus::Error naming the file:line, key and value.
ResolvedConfig resolve(const ResolveOptions& options);

}  // namespace primus::config
