// One migration, end to end: Megatron flags and a process layout in; a model preset choice (or a
// new preset), an experiment holding only what differs from that preset and Primus' trainer
// defaults, both written atomically, and the lossless proof of the written files out.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "migrate/launch_command.hpp"
#include "migrate/lossless_proof.hpp"
#include "migrate/megatron_flags.hpp"

namespace primus::migrate {

struct MigrationRequest {
  LaunchCommand launch;                 // the Megatron flags and the process layout
  std::filesystem::path output_dir;
  std::string name;                     // file base name; "" = from the model ("llama3.1_8B-pretrain")
  std::string default_stem = "migrated";  // base for a new preset's name (the script's name)
  std::string source;                   // for the files' header: "train_llama3_style.sh MODEL_SIZE=8"
  bool keep_unknown = false;            // unknown flags become comments instead of an error
  // How the user changes the layout, in the calling command's own options (errors append it).
  std::string layout_hint =
      "change the script's settings (KEY=VALUE) or the GPUs per node (--gpus N), or state the layout the script is "
      "meant for (--nnodes N or --world-size N)";
};

struct MigrationResult {
  std::filesystem::path experiment_file;
  std::optional<std::filesystem::path> preset_file;  // a new preset, when no zoo preset matched
  std::string model;                    // the preset the experiment names
  bool zoo_match = false;
  std::string match_explanation;
  std::string family_note;              // the script's own family came close (PresetMatch::family_note)
  std::string entry_point_note;         // the entry point is not pretrain_gpt.py (entry_points.hpp)
  std::vector<UnknownFlag> unknown;
  std::vector<std::string> conversions; // "--recompute-activations -> recompute_granularity: selective"
  std::vector<std::string> script_keys; // keys the script's flags set
  size_t override_count = 0;
  int64_t world_size = 1;
  ProofResult proof;
  config::ResolvedConfig resolved;      // the written experiment, resolved for the proof
};

MigrationResult migrate(const MigrationRequest& request);

}  // namespace primus::migrate
