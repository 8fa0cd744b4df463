// What an iteration does when its loss or gradient norm is not finite — decided before the
// optimizer sees the gradients, so that a NaN is never applied to the weights:
//
//  * check_for_nan_in_loss_and_grad: true (Megatron's default) — the run stops with one line; at
//    the first iterations, where a NaN comes from the configuration rather than from training, the
//    line names the settings that usually cause it, with their values and where they were set.
//  * false — the step is skipped as Megatron skips an overflowed step: no update, the learning-rate
//    schedule does not advance, and the iteration counts in "number of skipped iterations" (and in
//    "number of nan iterations"); training goes on with the next batch.
#pragma once

#include <cstdint>
#include <string>

#include "config/resolved_config.hpp"

namespace primus::train {

enum class StepDecision {
  kApply,  // finite: the optimizer steps
  kSkip,   // not finite, check off: no update, counted as skipped
  kStop,   // not finite, check on: stop with non_finite_stop_message()
};

// From reduced values, so that every rank decides alike.
StepDecision decide_step(double loss, double grad_norm, const config::ResolvedConfig& config);

// "iteration 1: the loss is nan ... likely causes: init_method_std = 0.02 (e.yaml:7), ..."
std::string non_finite_stop_message(std::int64_t iteration, double loss, double grad_norm,
                                    const config::ResolvedConfig& config);

}  // namespace primus::train
