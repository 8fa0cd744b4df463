#include "train/nonfinite_step.hpp"

#include <cmath>
#include <vector>

#include <fmt/format.h>


namespace primus::train {

namespace {

// "lr = 0.001 (command line (--lr))"
std::string setting(const config::ResolvedConfig& c, const std::string& key) {
  const auto& s = c.at(key);
  return fmt::format("{} = {} ({})", key, s.value.for_message(), s.origin.describe());
}

std::string settings(const config::ResolvedConfig& c, const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + setting(c, k);
  return out;
}

}  // namespace

std::string non_finite_stop_message(std::int64_t iteration, double loss, double grad_norm,
                                    const config::ResolvedConfig& c) {
  const bool bad_loss = !std::isfinite(loss);
  std::string what = bad_loss ? fmt::format("the loss is {}", loss) : fmt::format("the gradient norm is {} (the loss {} is finite)", grad_norm, loss);
  std::string why;
  if (iteration == 1) {
    // Nothing has been learnt yet: the initial model, its numerics or the data produce it.
    why = fmt::format(
        "at the first iteration, before any update, this comes from the configuration, not from training: check "
        "{}{}",
        settings(c, {"init_method_std", "norm_epsilon", "rotary_base", "rotary_percent", "seq_length"}),
        c.at("bf16").value.is_bool() && c.at("bf16").value.as_bool() ? ", " + setting(c, "bf16") : "");
  } else if (iteration <= 3) {
    // The first updates went wrong: the optimizer's settings.
    why = fmt::format("right after the first updates this comes from the optimizer's settings: check {}",
                      settings(c, {"lr", "lr_warmup_init", "adam_eps", "adam_beta1", "adam_beta2", "clip_grad", "weight_decay"}));
  } else {
    why = fmt::format("training diverged: lower {} or lengthen the warmup ({}), or clip gradients ({})", setting(c, "lr"),
                      setting(c, "lr_warmup_iters"), setting(c, "clip_grad"));
  }
  return fmt::format("iteration {}: {}; stopping (check_for_nan_in_loss_and_grad: set it to false to skip such steps "
                     "instead); {}",
                     iteration, what, why);
}

StepDecision decide_step(double loss, double grad_norm, const config::ResolvedConfig& c) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) return StepDecision::kApply;
  return c.args.check_for_nan_in_loss_and_grad ? StepDecision::kStop : StepDecision::kSkip;
}

}  // namespace primus::train
