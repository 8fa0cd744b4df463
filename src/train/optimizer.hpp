// The optimizer over the model's flat parameter buffer: Adam (decoupled weight decay, i.e.
// AdamW, Megatron's `--optimizer adam`) or SGD with momentum. State (exp_avg, exp_avg_sq or the
// momentum buffer) is fp32, one flat buffer each at the parameters' offsets, allocated once.
// Megatron's parameter groups: weight decay applies to matrices only — biases and norm weights
// (1-D parameters) get none. In mixed precision the update also refreshes the bf16 weight copy.
#pragma once

#include <cstdint>
#include <string>

#include "config/args.hpp"
#include "core/aligned.hpp"
#include "model/gpt_model.hpp"

namespace primus::train {

struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float momentum = 0.9f;      // sgd
  static OptimizerConfig from_args(const config::Args& args);
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, model::GPTModel& model);

  // One update with the given learning rate and weight decay (from the scheduler); gradients
  // must already be final (averaged and clipped).
  void step(double lr, double weight_decay);
  std::int64_t steps_taken() const { return step_; }
  const std::string& name() const { return config_.name; }

  // State access for checkpoints.
  float* exp_avg() { return state1_.data(); }
  float* exp_avg_sq() { return state2_.data(); }
  void set_steps_taken(std::int64_t s) { step_ = s; }

 private:
  model::GPTModel& model_;
  OptimizerConfig config_;
  std::int64_t step_ = 0;
  AlignedBuffer<float> state1_, state2_;
};

}  // namespace primus::train
