// Megatron's optimizer parameter scheduler: the learning rate and the weight decay as functions
// of training progress (megatron-formats.md §5). Written from that specification, not from the
// upstream Python; tests/train/lr_scheduler_test.cpp checks every style against numbers from an
// independent reference script (tools/reference/train/lr_schedule_reference.py).
//
// Units: every "step" here is a count of SAMPLES, as in Megatron — each successful iteration
// advances training by global_batch_size samples, so after iteration i (iteration-based training)
// the scheduler is evaluated at i·global_batch_size. Warmup may be fractional
// (lr_warmup_fraction · decay_steps), hence a double.
//
// lr() and weight_decay() are pure, allocation-free functions of the sample count, so the trainer
// can call them every iteration and after a checkpoint resume without carrying any state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/args.hpp"

namespace primus::train {

enum class LrDecayStyle { kConstant, kLinear, kCosine, kInverseSquareRoot, kWsd };
enum class WsdDecayStyle { kLinear, kCosine, kExponential, kMinusSqrt };
enum class WeightDecayIncrStyle { kConstant, kLinear, kCosine };

// Parses Megatron's spellings ("constant", "linear", "cosine", "inverse-square-root", "WSD";
// "exponential", "minus_sqrt"); throws primus::Error naming `key` for anything else.
LrDecayStyle parse_lr_decay_style(std::string_view name, std::string_view key = "lr_decay_style");
WsdDecayStyle parse_wsd_decay_style(std::string_view name, std::string_view key = "lr_wsd_decay_style");
WeightDecayIncrStyle parse_weight_decay_incr_style(std::string_view name,
                                                   std::string_view key = "weight_decay_incr_style");

// The schedule with every length already converted to samples.
struct LrSchedule {
  double init_lr = 0.0;        // lr at sample 0 (lr_warmup_init)
  double max_lr = 0.0;         // lr at the end of warmup (lr)
  double min_lr = 0.0;         // floor after decay (min_lr)
  double warmup_steps = 0.0;   // samples of linear warmup; 0 = none
  int64_t decay_steps = 1;     // samples after which lr stays at min_lr
  LrDecayStyle decay_style = LrDecayStyle::kLinear;
  std::optional<int64_t> wsd_decay_steps;  // samples of the WSD anneal phase (WSD only)
  WsdDecayStyle wsd_decay_style = WsdDecayStyle::kExponential;

  double start_weight_decay = 0.0;
  double end_weight_decay = 0.0;
  int64_t weight_decay_incr_steps = 1;     // samples over which weight decay moves start -> end
  WeightDecayIncrStyle weight_decay_incr_style = WeightDecayIncrStyle::kConstant;
};

class LrScheduler {
 public:
  // Checks the invariants Megatron asserts (0 ≤ min_lr ≤ max_lr, init ≤ max, decay_steps > 0,
  // warmup < decay_steps, 0 ≤ start_wd ≤ end_wd, constant wd ⇒ start == end, WSD ⇒ wsd steps
  // given) and throws primus::Error with a one-line explanation when one fails.
  explicit LrScheduler(const LrSchedule& schedule);

  // Builds the schedule as Megatron's get_optimizer_param_scheduler does:
  //   iteration-based (train_iters): decay = (lr_decay_iters or train_iters)·gbs,
  //     warmup = lr_warmup_fraction·decay or lr_warmup_iters·gbs, wsd = lr_wsd_decay_iters·gbs,
  //     weight-decay steps = train_iters·gbs;
  //   sample-based (train_samples): the *_samples counterparts, unscaled.
  // Weight decay: style constant uses weight_decay for both ends (giving start/end_weight_decay
  // with constant is an error, as in Megatron); linear/cosine take start/end_weight_decay, each
  // defaulting to weight_decay when null.
  static LrScheduler from_args(const config::Args& args);

  // Learning rate after `samples` samples have been consumed (samples ≥ 0).
  double lr(int64_t samples) const;
  // Weight decay after `samples` samples (before any per-parameter-group multiplier).
  double weight_decay(int64_t samples) const;

  const LrSchedule& schedule() const { return s_; }

 private:
  LrSchedule s_;
};

}  // namespace primus::train
