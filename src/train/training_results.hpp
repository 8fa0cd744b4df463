// What a training iteration, a validation pass and a whole run report.
#pragma once

#include <cstdint>
#include <vector>

namespace primus::train {

struct IterationResult {
  std::int64_t iteration = 0;
  double lm_loss = 0.0;        // this iteration's global-batch loss
  double grad_norm = 0.0;      // before clipping
  bool skipped = false;        // not finite and check_for_nan_in_loss_and_grad off: no update (nonfinite_step.hpp)
  double learning_rate = 0.0;  // the rate the next iteration uses (what Megatron logs)
  std::vector<double> aux_losses;  // auxiliary_loss_names(args) order (MoE, MTP)
  double seconds = 0.0;
};

struct EvalResult {
  std::int64_t iteration = 0;
  double lm_loss = 0.0;
  double ppl = 0.0;
};

struct TrainingSummary {
  std::int64_t iterations = 0;
  double first_loss = 0.0, last_loss = 0.0;
  double tokens_per_second = 0.0;       // median over iterations after warm-up
  double tflops_per_device = 0.0;
  double seconds = 0.0;
  std::int64_t peak_rss_bytes = 0;
  std::vector<EvalResult> evals;
};

}  // namespace primus::train
