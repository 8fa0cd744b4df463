#include "cli/overrides_option.hpp"

#include <cstdio>

namespace primus::cli {

std::vector<std::string>& megatron_args() {
  static std::vector<std::string> args;
  return args;
}

void allow_overrides(CLI::App& command) {
  command.allow_extras();
  command.footer(
      "Overrides: any argument of the schema, e.g. --train_iters 10, --lr=3e-4, --bf16, "
      "--tensor-model-parallel-size 2, --no-bias-swiglu-fusion; or --megatron-args FLAGS... at the end.");
}

std::vector<std::string> collect_overrides(const CLI::App& command) {
  std::vector<std::string> tokens = command.remaining();
  const auto& megatron = megatron_args();
  // The Megatron flag list comes first: explicit overrides beat a pasted launch line.
  tokens.insert(tokens.begin(), megatron.begin(), megatron.end());
  return tokens;
}

void report_notes(const config::ResolvedConfig& resolved) {
  for (const auto& note : resolved.notes) std::fprintf(stderr, "primus: note: %s\n", note.c_str());
  if (!resolved.without_effect.empty()) {
    std::string keys;
    for (const auto& k : resolved.without_effect) keys += (keys.empty() ? "" : ", ") + k;
    std::fprintf(stderr, "primus: note: accepted, no effect on this engine: %s\n", keys.c_str());
  }
  for (const auto& r : resolved.refused)
    std::fprintf(stderr, "primus: note: `primus train` refuses this setting: %s\n", r.c_str());
  if (resolved.module == "post_trainer")
    std::fprintf(stderr, "primus: note: a fine-tuning experiment (modules.post_trainer): it resolves here, and "
                         "`primus train posttrain` refuses it until fine-tuning (SFT/LoRA) is built\n");
}

}  // namespace primus::cli
