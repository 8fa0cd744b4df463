// A non-finite loss or gradient norm is never applied: the NaN stop names the likely settings
// (with their values and where they were set) at the first iterations, and with
// check_for_nan_in_loss_and_grad off the step is skipped.
#include "train/nonfinite_step.hpp"

#include <cmath>

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace primus::train {
namespace {

config::ResolvedConfig resolve(std::vector<std::string> overrides) {
  return config::resolve(config::ResolveOptions{
      std::string(PRIMUS_SOURCE_DIR) + "/examples/megatron/configs/tiny_llama-pretrain.yaml", std::move(overrides), 1});
}

struct StepCase {
  const char* name;
  std::int64_t iteration;
  double loss, grad_norm;
  bool check;
  std::vector<std::string> expected;  // substrings of the stop; empty: no stop
  StepDecision decision;
};

void PrintTo(const StepCase& c, std::ostream* os) { *os << c.name; }

class NonFiniteStep : public ::testing::TestWithParam<StepCase> {};

TEST_P(NonFiniteStep, DecisionAndMessage) {
  const StepCase& c = GetParam();
  const auto cfg = resolve({"--check-for-nan-in-loss-and-grad", c.check ? "true" : "false", "--init-method-std", "0.01"});
  const StepDecision d = decide_step(c.loss, c.grad_norm, cfg);
  EXPECT_EQ(d, c.decision);
  if (!c.expected.empty()) {
    const std::string message = non_finite_stop_message(c.iteration, c.loss, c.grad_norm, cfg);
    EXPECT_EQ(message.find('\n'), std::string::npos);
    for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
  }
}

const double kNan = std::nan("");

const StepCase kCases[] = {
    {"finite_is_applied", 7, 2.5, 1.0, true, {}, StepDecision::kApply},
    {"finite_is_applied_without_check", 7, 2.5, 1.0, false, {}, StepDecision::kApply},
    {"nan_loss_skipped_without_check", 7, kNan, kNan, false, {}, StepDecision::kSkip},
    {"inf_grad_skipped_without_check", 1, 3.0, INFINITY, false, {}, StepDecision::kSkip},
    {"nan_loss_at_iteration_1_names_the_model_settings", 1, kNan, kNan, true,
     {"iteration 1: the loss is nan", "before any update, this comes from the configuration",
      "init_method_std = 0.01 (command line (--init-method-std))", "norm_epsilon = ", "rotary_base = 500000 (primus/configs/models/megatron/llama3_base.yaml:7)",
      "set it to false to skip such steps"},
     StepDecision::kStop},
    {"inf_grad_at_iteration_1", 1, 10.4, INFINITY, true,
     {"iteration 1: the gradient norm is inf (the loss 10.4 is finite)", "init_method_std"}, StepDecision::kStop},
    {"nan_right_after_the_first_update_names_the_optimizer", 2, kNan, kNan, true,
     {"iteration 2: the loss is nan", "optimizer's settings", "lr = 0.001 (", "adam_eps = ", "clip_grad = 1.0"},
     StepDecision::kStop},
    {"nan_later_is_divergence", 500, kNan, 1.0, true, {"iteration 500", "training diverged: lower lr = 0.001"},
     StepDecision::kStop},
};

INSTANTIATE_TEST_SUITE_P(Cases, NonFiniteStep, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace primus::train
