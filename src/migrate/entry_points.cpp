#include "migrate/entry_points.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace primus::migrate {

namespace {

struct KnownEntryPoint {
  const char* file;
  const char* what;
  std::vector<ImpliedFlag> implies;
};

// ROCm/Megatron-LM examples/deepseek_v2/pretrain_deepseek.py builds its model from
// DeepSeekV2TransformerConfig and the deepseekv2 layer specs: latent attention (q/kv LoRA, the
// nope/rope head split) in every layer, with or without --multi-latent-attention.
const std::vector<KnownEntryPoint>& known() {
  static const std::vector<KnownEntryPoint> all{
      {"pretrain_deepseek.py", "the ROCm fork's DeepSeek-V2 entry point (PAI-Megatron-Patch)",
       {{"multi_latent_attention", "--multi-latent-attention", "it always builds DeepSeek-V2's multi-latent attention"}}}};
  return all;
}

std::string base_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

}  // namespace

std::string other_entry_point(const LaunchCommand& launch) {
  std::string base = base_name(launch.training_script);
  return base.empty() || base == "pretrain_gpt.py" ? "" : base;
}

std::string entry_point_note(const LaunchCommand& launch) {
  std::string base = other_entry_point(launch);
  if (base.empty()) return "";
  for (const auto& k : known())
    if (base == k.file) {
      std::string implied;
      for (const auto& f : k.implies) implied += fmt::format("{}{} ({})", implied.empty() ? "" : ", ", f.flag, f.why);
      return fmt::format("entry point: {} (not pretrain_gpt.py), {}; its flags are read as pretrain_gpt.py reads them, "
                         "plus what it implies: {}; constants its own code fixes are not in the flags: check the "
                         "model below against what it trains",
                         base, k.what, implied);
    }
  return fmt::format("entry point: {} (not pretrain_gpt.py); its flags are read as Megatron-LM's pretrain_gpt.py "
                     "reads them, but a model that script builds in its own code is not in the flags: check the "
                     "model below against what it trains",
                     base);
}

std::vector<ImpliedFlag> implied_flags(const LaunchCommand& launch, const std::vector<std::string>& args) {
  std::vector<ImpliedFlag> out;
  std::string base = other_entry_point(launch);
  for (const auto& k : known())
    if (base == k.file)
      for (const auto& f : k.implies)
        if (std::find(args.begin(), args.end(), f.flag) == args.end()) out.push_back(f);
  return out;
}

}  // namespace primus::migrate
