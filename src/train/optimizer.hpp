// The optimizer over the model's flat parameter buffer: Adam (decoupled weight decay, i.e.
// AdamW, Megatron's `--optimizer adam`) or SGD with momentum, plus Megatron's global-norm gradient
// clipping.
//
// It updates a list of ranges of the flat buffer: every parameter whole, or — with the distributed
// optimizer (ZeRO-1) — only the pieces of parameters inside this data-parallel rank's shards
// (parallel/distributed_optimizer.hpp). State (exp_avg, exp_avg_sq or the momentum buffer) is
// fp32 and exists only for those ranges, packed in range order, allocated once; so optimizer
// memory per rank falls by the data-parallel size with the distributed optimizer. The fp32
// parameters are the model's own buffer (this engine computes norms and embeddings from them), so
// there is no separate master copy; in mixed precision the update also refreshes the bf16 copy.
//
// Megatron's parameter groups: weight decay applies to matrices only — biases and norm weights
// (1-D parameters) get none; a range carries its parameter's flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/args.hpp"
#include "core/aligned.hpp"
#include "model/gpt_model.hpp"
#include "parallel/communicator.hpp"

namespace primus::train {

struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float momentum = 0.9f;      // sgd
  static OptimizerConfig from_args(const config::Args& args);
};

// A contiguous range of the flat buffers this rank updates (inside one parameter).
struct OptimizerRange {
  std::int64_t offset = 0, numel = 0;
  bool decay = true;          // the parameter's weight-decay flag
  bool in_grad_norm = true;   // false for a copy another rank counts (e.g. TP-replicated weights on TP rank > 0)
};

// Every parameter of the model, whole (one process, or data parallelism without the distributed
// optimizer).
std::vector<OptimizerRange> whole_parameter_ranges(const model::PipelineStage& model);

class Optimizer {
 public:
  // grad_norm_group: the ranks whose ranges together hold every parameter once (the whole world
  // with the distributed optimizer; the model-parallel group without it).
  Optimizer(const OptimizerConfig& config, model::PipelineStage& model, std::vector<OptimizerRange> ranges,
            parallel::Communicator& grad_norm_group);

  // Megatron's clip_grad_norm: the L2 norm of all gradients (before clipping), summed over this
  // rank's ranges and reduced over the grad-norm group; when max_norm > 0 and the norm exceeds it,
  // this rank's ranges are scaled by max_norm / (norm + 1e-6). A non-finite norm scales nothing.
  double clip_grad_norm(double max_norm);
  // One update with the given learning rate and weight decay (from the scheduler); gradients
  // must already be final (averaged and clipped).
  void step(double lr, double weight_decay);
  std::int64_t steps_taken() const { return step_; }
  const std::string& name() const { return config_.name; }

  const std::vector<OptimizerRange>& ranges() const { return ranges_; }
  // Elements of each state buffer (sum of the ranges).
  std::int64_t state_elements() const { return state_elements_; }
  std::int64_t state_bytes() const;

  // State for checkpoints: packed in range order.
  float* exp_avg() { return state1_.data(); }
  float* exp_avg_sq() { return state2_.data(); }
  void set_steps_taken(std::int64_t s) { step_ = s; }

 private:
  model::PipelineStage& model_;
  OptimizerConfig config_;
  std::vector<OptimizerRange> ranges_;
  parallel::Communicator& grad_norm_group_;
  std::int64_t state_elements_ = 0;
  std::int64_t step_ = 0;
  AlignedBuffer<float> state1_, state2_;
};

}  // namespace primus::train
