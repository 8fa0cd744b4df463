// Megatron's learning-rate / weight-decay schedule (megatron-formats.md §5); see the header.
#include "train/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace primus::train {

LrDecayStyle parse_lr_decay_style(std::string_view name, std::string_view key) {
  if (name == "constant") return LrDecayStyle::kConstant;
  if (name == "linear") return LrDecayStyle::kLinear;
  if (name == "cosine") return LrDecayStyle::kCosine;
  if (name == "inverse-square-root") return LrDecayStyle::kInverseSquareRoot;
  if (name == "WSD") return LrDecayStyle::kWsd;
  fail("{}: unknown learning-rate decay style '{}' (expected constant, linear, cosine, inverse-square-root or WSD)",
       key, name);
}

WsdDecayStyle parse_wsd_decay_style(std::string_view name, std::string_view key) {
  if (name == "linear") return WsdDecayStyle::kLinear;
  if (name == "cosine") return WsdDecayStyle::kCosine;
  if (name == "exponential") return WsdDecayStyle::kExponential;
  if (name == "minus_sqrt") return WsdDecayStyle::kMinusSqrt;
  fail("{}: unknown WSD decay style '{}' (expected linear, cosine, exponential or minus_sqrt)", key, name);
}

WeightDecayIncrStyle parse_weight_decay_incr_style(std::string_view name, std::string_view key) {
  if (name == "constant") return WeightDecayIncrStyle::kConstant;
  if (name == "linear") return WeightDecayIncrStyle::kLinear;
  if (name == "cosine") return WeightDecayIncrStyle::kCosine;
  fail("{}: unknown weight-decay increment style '{}' (expected constant, linear or cosine)", key, name);
}

LrScheduler::LrScheduler(const LrSchedule& schedule) : s_(schedule) {
  if (!(s_.min_lr >= 0.0)) fail("min_lr must be >= 0 (got {})", s_.min_lr);
  if (!(s_.max_lr >= s_.min_lr)) fail("lr ({}) must be >= min_lr ({})", s_.max_lr, s_.min_lr);
  if (!(s_.init_lr <= s_.max_lr)) fail("lr_warmup_init ({}) must be <= lr ({})", s_.init_lr, s_.max_lr);
  if (s_.decay_steps <= 0)
    fail("the learning-rate decay length must be positive (lr_decay_iters / train_iters give {} samples)",
         s_.decay_steps);
  if (!(s_.warmup_steps >= 0.0)) fail("the learning-rate warmup must not be negative (got {} samples)", s_.warmup_steps);
  if (!(s_.warmup_steps < static_cast<double>(s_.decay_steps)))
    fail("the learning-rate warmup ({} samples) must be shorter than the decay ({} samples); "
         "lower lr_warmup_iters / lr_warmup_fraction or raise lr_decay_iters",
         s_.warmup_steps, s_.decay_steps);
  if (s_.decay_style == LrDecayStyle::kWsd) {
    if (!s_.wsd_decay_steps)
      fail("lr_decay_style WSD needs the length of its anneal phase: set lr_wsd_decay_iters "
           "(or lr_wsd_decay_samples with train_samples)");
    if (*s_.wsd_decay_steps <= 0) fail("lr_wsd_decay_iters must be positive (got {} samples)", *s_.wsd_decay_steps);
  }
  if (!(s_.start_weight_decay >= 0.0))
    fail("start_weight_decay must be >= 0 (got {})", s_.start_weight_decay);
  if (!(s_.end_weight_decay >= s_.start_weight_decay))
    fail("end_weight_decay ({}) must be >= start_weight_decay ({})", s_.end_weight_decay, s_.start_weight_decay);
  if (s_.weight_decay_incr_style == WeightDecayIncrStyle::kConstant && s_.start_weight_decay != s_.end_weight_decay)
    fail("weight_decay_incr_style constant needs start_weight_decay == end_weight_decay (got {} and {})",
         s_.start_weight_decay, s_.end_weight_decay);
  if (s_.weight_decay_incr_style != WeightDecayIncrStyle::kConstant && s_.weight_decay_incr_steps <= 0)
    fail("the weight-decay increment needs a positive training length (got {} samples)", s_.weight_decay_incr_steps);
}

LrScheduler LrScheduler::from_args(const config::Args& args) {
  LrSchedule s;
  s.init_lr = args.lr_warmup_init;
  s.max_lr = args.lr;
  s.min_lr = args.min_lr;
  s.decay_style = parse_lr_decay_style(args.lr_decay_style);
  s.wsd_decay_style = parse_wsd_decay_style(args.lr_wsd_decay_style);

  if (args.train_iters && *args.train_iters > 0) {
    const int64_t gbs = args.global_batch_size;
    if (gbs <= 0) fail("global_batch_size must be positive (got {})", gbs);
    s.decay_steps = args.lr_decay_iters.value_or(*args.train_iters) * gbs;
    s.weight_decay_incr_steps = *args.train_iters * gbs;
    if (args.lr_wsd_decay_iters) s.wsd_decay_steps = *args.lr_wsd_decay_iters * gbs;
    s.warmup_steps = args.lr_warmup_fraction ? *args.lr_warmup_fraction * static_cast<double>(s.decay_steps)
                                             : static_cast<double>(args.lr_warmup_iters * gbs);
  } else if (args.train_samples && *args.train_samples > 0) {
    s.decay_steps = args.lr_decay_samples.value_or(*args.train_samples);
    s.weight_decay_incr_steps = *args.train_samples;
    s.wsd_decay_steps = args.lr_wsd_decay_samples;
    s.warmup_steps = args.lr_warmup_fraction ? *args.lr_warmup_fraction * static_cast<double>(s.decay_steps)
                                             : static_cast<double>(args.lr_warmup_samples);
  } else {
    fail("the learning-rate schedule needs train_iters (or train_samples) to be set and positive");
  }

  s.weight_decay_incr_style = parse_weight_decay_incr_style(args.weight_decay_incr_style);
  if (s.weight_decay_incr_style == WeightDecayIncrStyle::kConstant) {
    if (args.start_weight_decay || args.end_weight_decay)
      fail("start_weight_decay / end_weight_decay apply only with weight_decay_incr_style linear or cosine; "
           "with constant, set weight_decay (now {})",
           args.weight_decay);
    s.start_weight_decay = s.end_weight_decay = args.weight_decay;
  } else {
    s.start_weight_decay = args.start_weight_decay.value_or(args.weight_decay);
    s.end_weight_decay = args.end_weight_decay.value_or(args.weight_decay);
  }
  return LrScheduler(s);
}

double LrScheduler::lr(int64_t samples) const {
  const double n = static_cast<double>(samples);
  // 1. Linear warmup from init_lr to max_lr (inclusive of its last step).
  if (s_.warmup_steps > 0.0 && n <= s_.warmup_steps)
    return s_.init_lr + (s_.max_lr - s_.init_lr) * n / s_.warmup_steps;
  // 2. Constant: max_lr for ever after warmup.
  if (s_.decay_style == LrDecayStyle::kConstant) return s_.max_lr;
  // 3. Past the decay horizon: the floor.
  if (samples > s_.decay_steps) return s_.min_lr;
  // 4. Inverse square root, relative to the end of warmup (at least 1 sample each).
  if (s_.decay_style == LrDecayStyle::kInverseSquareRoot) {
    const double w = std::max(s_.warmup_steps, 1.0);
    const double k = std::max(n, 1.0);
    return std::max(s_.min_lr, s_.max_lr * std::sqrt(w) / std::sqrt(k));
  }
  // 5. Decay from max_lr to min_lr with coefficient c ∈ [0, 1].
  const double decay = static_cast<double>(s_.decay_steps);
  const double ratio = (n - s_.warmup_steps) / (decay - s_.warmup_steps);
  double c = 1.0;
  switch (s_.decay_style) {
    case LrDecayStyle::kLinear:
      c = 1.0 - ratio;
      break;
    case LrDecayStyle::kCosine:
      c = 0.5 * (std::cos(std::numbers::pi * ratio) + 1.0);
      break;
    case LrDecayStyle::kWsd: {
      // Stable at max_lr until the last wsd_decay_steps samples, then anneal.
      const double wsd = static_cast<double>(*s_.wsd_decay_steps);
      const double anneal_start = decay - wsd;
      if (n <= anneal_start) {
        c = 1.0;
      } else {
        const double rho = (n - anneal_start) / wsd;
        switch (s_.wsd_decay_style) {
          case WsdDecayStyle::kLinear: c = 1.0 - rho; break;
          case WsdDecayStyle::kCosine: c = 0.5 * (std::cos(std::numbers::pi * rho) + 1.0); break;
          case WsdDecayStyle::kExponential: c = 2.0 * std::pow(0.5, rho) - 1.0; break;
          case WsdDecayStyle::kMinusSqrt: c = 1.0 - std::sqrt(rho); break;
        }
      }
      break;
    }
    case LrDecayStyle::kConstant:
    case LrDecayStyle::kInverseSquareRoot:
      break;  // handled above
  }
  return s_.min_lr + c * (s_.max_lr - s_.min_lr);
}

double LrScheduler::weight_decay(int64_t samples) const {
  if (samples > s_.weight_decay_incr_steps) return s_.end_weight_decay;
  if (s_.weight_decay_incr_style == WeightDecayIncrStyle::kConstant) return s_.end_weight_decay;
  const double ratio = static_cast<double>(samples) / static_cast<double>(s_.weight_decay_incr_steps);
  // Both styles rise from 0 at the start to 1 at the end; cosine is the half-period of
  // -cos, i.e. ½(cos(π(1 − r)) + 1).
  const double c = s_.weight_decay_incr_style == WeightDecayIncrStyle::kLinear
                       ? ratio
                       : 0.5 * (std::cos(std::numbers::pi * (1.0 - ratio)) + 1.0);
  return s_.start_weight_decay + c * (s_.end_weight_decay - s_.start_weight_decay);
}

}  // namespace primus::train
