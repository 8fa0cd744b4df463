// `primus checkpoint export-megatron | import-megatron`: the engine's checkpoints to and from
// Megatron-LM's legacy torch format (megatron_layout.hpp), so that a run prototyped here
// continues on a GPU cluster with Megatron-LM or Primus, and a Megatron checkpoint comes back.
//
// Export writes OUTPUT/iter_NNNNNNN/<rank folders>/model_optim_rng.pt (built in a .partial folder
// and renamed into place) and OUTPUT/latest_checkpointed_iteration.txt. Each file holds
// {"args": argparse.Namespace(<the run's resolved arguments, layout keys set to the target
// layout, consumed samples>), "checkpoint_version": 3.0, "iteration": N, "model": {...}} —
// model weights only: Megatron continues from it with --finetune (fresh optimizer, iteration 0)
// or --no-load-optim --no-load-rng (keeping the iteration and the data position; the LR
// schedule restarts, as Megatron's does without the optimizer state).
//
// Import reads every rank folder of an iteration (layout from the saved args: TP, PP, EP,
// virtual pipeline; the spec from the names), checks the saved architecture against the
// experiment key by key, and writes a checkpoint whose pieces are the ranks' slices (replicas
// read once), with the iteration and consumed samples Megatron recorded; weights only.
#pragma once

#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/megatron/megatron_layout.hpp"
#include "checkpoint/model_tensors.hpp"
#include "config/args.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint::megatron {

struct ExportMegatronOptions {
  MegatronLayout layout;
  bool bf16 = false;  // weights as BFloat16Storage (else FloatStorage)
};

struct ExportMegatronResult {
  std::filesystem::path dir;
  std::int64_t files = 0;
  std::uint64_t bytes = 0;
};

// args: the resolved arguments written as the checkpoint's Namespace (JSON object, from the
// checkpoint's state or the experiment).
ExportMegatronResult export_megatron(const model::ModelConfig& config, const std::vector<ModelTensor>& tensors,
                                     CheckpointReader& checkpoint, nlohmann::json args, const std::filesystem::path& output,
                                     const ExportMegatronOptions& options);

struct ImportMegatronResult {
  std::filesystem::path checkpoint;
  std::int64_t iteration = 0;
  MegatronLayout layout;
  std::int64_t files = 0;
};

// source: a Megatron save folder (with latest_checkpointed_iteration.txt) or an iter_*/release
// folder. state: the caller's model summary and arguments; import adds "source" and "training".
ImportMegatronResult import_megatron(const config::Args& args, const model::ModelConfig& config,
                                     const std::vector<ModelTensor>& tensors, const std::filesystem::path& source,
                                     const std::filesystem::path& output, nlohmann::json state);

}  // namespace primus::checkpoint::megatron
