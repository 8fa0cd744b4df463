// The pretraining loop (Megatron's pretrain()/train()) on one process or across data-parallel,
// tensor- and pipeline-parallel ranks — one code path; a single process is every size 1. For each
// iteration, every micro-batch of this rank's share of the global batch (Megatron's sampler order)
// runs forward and backward through this rank's pipeline stage in the schedule's order
// (pipeline_executor.hpp) with gradients accumulated; shared word embeddings are summed over the
// first and last stage; gradients are averaged over the data-parallel group in
// buckets (optionally overlapped with the last backward), the loss is Megatron's Σ(loss·mask)/Σ(mask)
// over the whole global batch (reduced over dp×cp, and over the pipeline so that every rank
// reports it), gradients are clipped by the global norm
// (each parameter counted once over all ranks), the optimizer steps on every parameter or — with
// the distributed optimizer — on this rank's shard, whose update is then all-gathered. Every rank
// takes the same decisions (NaN stop, exit_interval, exit_duration_in_mins) from reduced values.
// Validation runs every eval_interval iterations and at the end, reduced the same way.
// Checkpoints (checkpointing.hpp): loaded at construction (load, auto_continue_train, finetune),
// saved every save_interval iterations, when leaving at exit_interval, exit_duration_in_mins or
// on the exit signal (exit_signal_handler), and at the end unless disable_last_saving.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "model/gpt_model.hpp"
#include "train/pipeline_executor.hpp"
#include "parallel/distributed_data_parallel.hpp"
#include "parallel/param_and_grad_buffer.hpp"
#include "parallel/parallel_state.hpp"
#include "train/checkpointing.hpp"
#include "train/lr_scheduler.hpp"
#include "train/optimizer.hpp"
#include "train/training_results.hpp"
#include "train/training_data.hpp"

namespace primus::train {

class Trainer {
 public:
  // state: this process's groups (from MPI); nullptr: one process without MPI. Collective over
  // the state's world: every rank constructs its Trainer together.
  explicit Trainer(const config::ResolvedConfig& config, parallel::ParallelState* state = nullptr);
  ~Trainer();

  TrainingSummary run();

  // One training iteration over the next global batch (exposed for tests and benchmarks).
  IterationResult train_step();
  // Validation over eval_iters global batches of the valid split; nullopt without one.
  std::optional<EvalResult> evaluate();

  // This rank's pipeline stage (the whole model without pipeline parallelism).
  model::PipelineStage& model() { return *model_; }
  const PipelineExecutor& pipeline() const { return *pipeline_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  const parallel::DistributedDataParallel& ddp() const { return *ddp_; }
  parallel::ParallelState& parallel_state() { return state_; }
  std::int64_t iteration() const { return iteration_; }
  std::int64_t consumed_samples() const { return consumed_samples_; }
  const TrainingData& data() const { return data_; }
  // Every parameter's current values, gathered (distributed optimizer) and ready to read.
  void finish_parameter_sync() { ddp_->finish_param_sync(); }
  // The checkpoint loaded at construction (load / auto_continue_train), if any.
  const std::optional<LoadResult>& loaded() const { return loaded_; }
  // Saves the current state to `save` (tests and the run loop; async_save: in the background,
  // completed by finish_saves()). Collective. Returns the log line.
  std::string save_checkpoint();
  std::optional<std::string> finish_saves(bool wait);

 private:
  struct Logging;
  std::string memory_plan() const;
  void log_pipeline_bubble();
  // Loads this data-parallel rank's micro-batches of the global batch starting at `consumed` into
  // the batch buffers: under context parallelism its chunks of each sequence ([micro_batch,
  // seq / cp]) and the whole sequences beside them (every CP rank loads all of each micro-batch,
  // as Megatron's get_batch does before slicing). Returns each micro-batch's loss-mask sum, whole
  // and of this rank's chunks.
  struct MaskSums {
    std::vector<double> whole, local;
  };
  MaskSums load_global_batch(MicroBatchLoader& loader, std::int64_t consumed);
  model::MicroBatch micro_batch(std::int64_t m);

  const config::Args& args_;
  const config::ResolvedConfig& config_;
  std::unique_ptr<parallel::ParallelState> own_state_;
  parallel::ParallelState& state_;
  double start_time_;
  TrainingData data_;
  std::unique_ptr<model::PipelineStage> model_;
  std::unique_ptr<PipelineExecutor> pipeline_;
  std::unique_ptr<parallel::ParamAndGradBuffer> buffer_;
  std::unique_ptr<parallel::DistributedDataParallel> ddp_;
  std::unique_ptr<Optimizer> optimizer_;
  LrScheduler scheduler_;
  std::unique_ptr<MicroBatchLoader> train_loader_, valid_loader_;
  std::int64_t iteration_ = 0;
  std::int64_t consumed_samples_ = 0;
  // Samples of the applied steps: the learning-rate schedule does not advance on a skipped one.
  std::int64_t scheduler_samples_ = 0;
  std::int64_t consumed_valid_samples_ = 0;
  // The pipeline schedule's time and the part of it spent waiting for a neighbour, summed over
  // the measured iterations (after log_avg_skip_iterations): the measured bubble.
  double pipeline_seconds_ = 0, pipeline_wait_seconds_ = 0;
  // This rank's share of one global batch, [num_micro_batches, micro_batch, seq / cp], allocated once.
  std::vector<std::int32_t> tokens_, labels_;
  std::vector<float> loss_mask_;
  // The whole micro-batches before the context-parallel split (empty without CP).
  std::vector<std::int32_t> full_tokens_, full_labels_;
  std::vector<float> full_mask_;
  std::unique_ptr<Logging> logging_;
  std::unique_ptr<Checkpointing> checkpointing_;
  std::optional<LoadResult> loaded_;
  std::int64_t last_saved_iteration_ = -1;
};

}  // namespace primus::train
