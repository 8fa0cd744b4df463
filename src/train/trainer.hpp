// The pretraining loop (Megatron's pretrain()/train()): for each iteration, every micro-batch of
// the global batch runs forward and backward with gradients accumulated; the loss is Megatron's
// Σ(loss·mask)/Σ(mask) over the whole global batch; gradients are clipped by global norm, the
// optimizer steps with the scheduled learning rate and weight decay, and every log_interval the
// Megatron iteration line is printed. Validation runs every eval_interval iterations and at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "model/gpt_model.hpp"
#include "train/lr_scheduler.hpp"
#include "train/optimizer.hpp"
#include "train/training_results.hpp"
#include "train/training_data.hpp"

namespace primus::train {

class Trainer {
 public:
  explicit Trainer(const config::ResolvedConfig& config);
  ~Trainer();

  TrainingSummary run();

  // One training iteration over the next global batch (exposed for tests and benchmarks).
  IterationResult train_step();
  // Validation over eval_iters global batches of the valid split; nullopt without one.
  std::optional<EvalResult> evaluate();

  model::GPTModel& model() { return *model_; }
  std::int64_t iteration() const { return iteration_; }
  std::int64_t consumed_samples() const { return consumed_samples_; }
  const TrainingData& data() const { return data_; }

 private:
  struct Logging;
  const config::Args& args_;
  const config::ResolvedConfig& config_;
  TrainingData data_;
  std::unique_ptr<model::GPTModel> model_;
  std::unique_ptr<Optimizer> optimizer_;
  LrScheduler scheduler_;
  std::unique_ptr<MicroBatchLoader> train_loader_, valid_loader_;
  std::int64_t iteration_ = 0;
  std::int64_t consumed_samples_ = 0;
  std::int64_t consumed_valid_samples_ = 0;
  // One global batch of inputs, [num_micro_batches, micro_batch, seq], allocated once.
  std::vector<std::int32_t> tokens_, labels_;
  std::vector<float> loss_mask_;
  std::unique_ptr<Logging> logging_;
};

}  // namespace primus::train
