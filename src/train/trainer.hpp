// The pretraining loop (Megatron's pretrain()/train()) on one process or across data-parallel
// ranks — one code path; a single process is data-parallel size 1. For each iteration, every
// micro-batch of this rank's share of the global batch (Megatron's sampler order) runs forward and
// backward with gradients accumulated; gradients are averaged over the data-parallel group in
// buckets (optionally overlapped with the last backward), the loss is Megatron's Σ(loss·mask)/Σ(mask)
// over the whole global batch (reduced over dp×cp), gradients are clipped by the global norm
// (each parameter counted once over all ranks), the optimizer steps on every parameter or — with
// the distributed optimizer — on this rank's shard, whose update is then all-gathered. Every rank
// takes the same decisions (NaN stop, exit_interval, exit_duration_in_mins) from reduced values.
// Validation runs every eval_interval iterations and at the end, reduced the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "model/gpt_model.hpp"
#include "parallel/distributed_data_parallel.hpp"
#include "parallel/param_and_grad_buffer.hpp"
#include "parallel/parallel_state.hpp"
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

  model::GPTModel& model() { return *model_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  const parallel::DistributedDataParallel& ddp() const { return *ddp_; }
  parallel::ParallelState& parallel_state() { return state_; }
  std::int64_t iteration() const { return iteration_; }
  std::int64_t consumed_samples() const { return consumed_samples_; }
  const TrainingData& data() const { return data_; }
  // Every parameter's current values, gathered (distributed optimizer) and ready to read.
  void finish_parameter_sync() { ddp_->finish_param_sync(); }

 private:
  struct Logging;
  std::string memory_plan() const;
  // Loads one micro-batch of this data-parallel rank into tokens/labels/mask (its context-parallel
  // chunks of each sequence, [micro_batch, seq / cp]); returns the loss-mask sum of the whole
  // micro-batch (every CP rank loads all of it, as Megatron's get_batch does before slicing).
  double load_micro_batch(MicroBatchLoader& loader, std::int64_t first_sample, std::int32_t* tokens,
                          std::int32_t* labels, float* mask);

  const config::Args& args_;
  const config::ResolvedConfig& config_;
  std::unique_ptr<parallel::ParallelState> own_state_;
  parallel::ParallelState& state_;
  double start_time_;
  TrainingData data_;
  std::unique_ptr<model::GPTModel> model_;
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
  // This rank's share of one global batch, [num_micro_batches, micro_batch, seq / cp], allocated once.
  std::vector<std::int32_t> tokens_, labels_;
  std::vector<float> loss_mask_;
  // One whole micro-batch before the context-parallel split (empty without CP).
  std::vector<std::int32_t> full_tokens_, full_labels_;
  std::vector<float> full_mask_;
  std::unique_ptr<Logging> logging_;
};

}  // namespace primus::train
