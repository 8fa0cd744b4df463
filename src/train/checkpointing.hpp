// The trainer's checkpoints (Megatron's save_checkpoint / load_checkpoint with its arguments):
// what each rank contributes to a save, and how a load restores a run of any layout.
//
// Save: every rank writes the regions of GLOBAL tensors it owns (checkpoint_saver.hpp), so that
// the pieces of each tensor partition it exactly:
//   * a parameter's local slice (parameter_layout Shard: TP shards, vocabulary shards, experts)
//     by data-parallel rank 0 of its region's group (dp×cp for dense, expert-dp for experts);
//     a parameter every TP rank holds whole (norms, routers) by TP rank 0 only;
//   * optimizer state (Megatron's names: optimizer.state.exp_avg.<param>, .exp_avg_sq., SGD's
//     .momentum_buffer.) for the elements this rank's optimizer updates — with the distributed
//     optimizer (ZeRO-1) each data-parallel rank's shard, which splits parameters at arbitrary
//     elements (element_range_blocks); the fp32 parameters are the optimizer's master copy, so
//     there is no separate fp32_param tensor;
//   * the routers' expert bias (block state) by global TP rank 0 of data-parallel rank 0.
// metadata "state" holds "training" (iteration, consumed train/valid samples, the scheduler's
// samples, the optimizer's step count and settings), "model" (the architecture, compared on
// load), "args", "layout" and per-rank "ranks" (RNG: this engine's training consumes no random
// numbers — dropout is refused and data order is a function of the seed and the consumed
// samples — so the per-rank record is the seed, checked on load unless no_load_rng).
//
// Load: the reader intersects each rank's local regions with whatever pieces the saving layout
// wrote, so any layout loads any layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/checkpoint_group.hpp"
#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_saver.hpp"
#include "config/resolved_config.hpp"
#include "model/pipeline_stage.hpp"
#include "parallel/parallel_state.hpp"
#include "train/optimizer.hpp"

namespace primus::train {

// The counters a checkpoint carries besides tensors.
struct TrainingProgress {
  std::int64_t iteration = 0;
  std::int64_t consumed_samples = 0;
  std::int64_t consumed_valid_samples = 0;
  std::int64_t scheduler_samples = 0;  // samples of the applied steps (the LR/WD schedule's clock)
};

// What a load did, for the log.
struct LoadResult {
  std::filesystem::path dir;
  TrainingProgress progress;
  bool optimizer = false, finetune = false;
  std::uint64_t bytes = 0;  // the checkpoint's files (all ranks')
  double seconds = 0.0;
};

// CheckpointGroup over an MPI communicator (collective failures as CollectiveError).
class CommunicatorCheckpointGroup final : public checkpoint::CheckpointGroup {
 public:
  explicit CommunicatorCheckpointGroup(parallel::Communicator& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  std::vector<std::string> allgather(const std::string& text) override;
  void agree(const std::string& error) override;

 private:
  parallel::Communicator& comm_;
};

class Checkpointing {
 public:
  Checkpointing(const config::ResolvedConfig& config, parallel::ParallelState& state, model::PipelineStage& model,
                Optimizer& optimizer);
  ~Checkpointing();

  // The checkpoint `load` names (auto_continue_train: `save` when it holds one; ckpt_step picks
  // an iteration), restored into the model, the optimizer (unless no_load_optim or finetune) and
  // returned with its counters (zero with finetune). nullopt when there is nothing to load
  // (exit_on_missing_checkpoint makes a missing one an error). Collective.
  std::optional<LoadResult> load();

  bool enabled() const;  // `save` is set
  // Saves iteration `progress.iteration` (async_save: in the background; a pending save is
  // finished first). Parameters must be final (the distributed optimizer's all-gather done).
  // Returns a line for the log. Collective.
  std::string save(const TrainingProgress& progress);
  // async_save: completes a background save whose files are written (wait: blocks until they
  // are). Returns a line for the log when one completed. Collective: every rank calls it at the
  // same points.
  std::optional<std::string> finish_async(bool wait);

 private:
  checkpoint::SaveRequest request(const TrainingProgress& progress);
  void read_optimizer(checkpoint::CheckpointReader& reader);

  const config::ResolvedConfig& config_;
  const config::Args& args_;
  parallel::ParallelState& state_;
  model::PipelineStage& model_;
  Optimizer& optimizer_;
  CommunicatorCheckpointGroup group_;
  std::unique_ptr<checkpoint::CheckpointSaver> saver_;
  std::int64_t pending_iteration_ = -1;
};

// Megatron's --exit-signal-handler: the chosen signal (exit_signal, SIGTERM by default) sets a
// flag instead of killing the process; the trainer checks it once per iteration (reduced over
// the ranks, so every rank stops together), saves and exits.
class ExitSignal {
 public:
  explicit ExitSignal(const std::string& signal_name);  // installs the handler
  ~ExitSignal();                                         // restores the previous one
  static bool received();

 private:
  int signal_ = 0;
  void* previous_ = nullptr;
};

}  // namespace primus::train
