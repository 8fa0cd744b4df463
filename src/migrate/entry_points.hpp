// The training script a launch runs. Megatron-LM's pretrain_gpt.py builds its model from the
// flags alone; other entry points (the ROCm fork's examples/deepseek_v2/pretrain_deepseek.py, a
// user's own train.py) may build parts of the model in their own code, which no flag shows. A
// migration names such an entry point, and adds the flags a known one implies.
#pragma once

#include <string>
#include <vector>

#include "migrate/launch_command.hpp"

namespace primus::migrate {

struct ImpliedFlag {
  std::string key;   // "multi_latent_attention"
  std::string flag;  // "--multi-latent-attention"
  std::string why;   // "it always builds DeepSeek-V2's multi-latent attention"
};

// The entry point's file name when it is not pretrain_gpt.py ("" for pretrain_gpt.py or none).
std::string other_entry_point(const LaunchCommand& launch);

// "entry point: pretrain_deepseek.py (not pretrain_gpt.py) — ...", or "" for pretrain_gpt.py.
std::string entry_point_note(const LaunchCommand& launch);

// Flags a known entry point implies whatever the flag list says, not already in `args`.
std::vector<ImpliedFlag> implied_flags(const LaunchCommand& launch, const std::vector<std::string>& args);

}  // namespace primus::migrate
