#include "train/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/grad_norm.hpp"
#include "kernels/optimizer.hpp"

namespace primus::train {

OptimizerConfig OptimizerConfig::from_args(const config::Args& a) {
  return OptimizerConfig{a.optimizer, static_cast<float>(a.adam_beta1), static_cast<float>(a.adam_beta2),
                         static_cast<float>(a.adam_eps), static_cast<float>(a.sgd_momentum)};
}

std::vector<OptimizerRange> whole_parameter_ranges(const model::PipelineStage& model) {
  std::vector<OptimizerRange> ranges;
  for (const auto& p : model.layout().params()) ranges.push_back({p.offset, p.numel(), p.decay, true});
  return ranges;
}

Optimizer::Optimizer(const OptimizerConfig& config, model::PipelineStage& model, std::vector<OptimizerRange> ranges,
                     parallel::Communicator& grad_norm_group)
    : model_(model), config_(config), ranges_(std::move(ranges)), grad_norm_group_(grad_norm_group) {
  if (config_.name != "adam" && config_.name != "sgd")
    fail("optimizer '{}' is not supported by this engine; use adam or sgd", config_.name);
  for (const OptimizerRange& r : ranges_) {
    if (r.offset < 0 || r.numel < 0 || r.offset + r.numel > model.num_params())
      fail("internal: optimizer range [{}, {}) outside the {} parameters", r.offset, r.offset + r.numel,
           model.num_params());
    state_elements_ += r.numel;
  }
  const auto n = static_cast<size_t>(state_elements_);
  if (config_.name == "adam" || config_.momentum > 0) state1_ = AlignedBuffer<float>(n);
  if (config_.name == "adam") state2_ = AlignedBuffer<float>(n);
}

std::int64_t Optimizer::state_bytes() const {
  return static_cast<std::int64_t>((state1_.size() + state2_.size()) * sizeof(float));
}

double Optimizer::clip_grad_norm(double max_norm) {
  float* grads = model_.grads();
  double ss = 0.0;
  for (const OptimizerRange& r : ranges_)
    if (r.in_grad_norm) ss += kernels::sum_squares(grads + r.offset, r.numel);
  grad_norm_group_.allreduce(&ss, 1);
  const double norm = std::sqrt(ss);
  if (!std::isfinite(norm)) return norm;
  if (max_norm > 0.0) {
    const float coeff = static_cast<float>(max_norm) / (static_cast<float>(norm) + 1e-6f);
    if (coeff < 1.0f)
      for (const OptimizerRange& r : ranges_) kernels::scale(grads + r.offset, coeff, r.numel);
  }
  return norm;
}

void Optimizer::step(double lr, double weight_decay) {
  ++step_;
  float* params = model_.params();
  const float* grads = model_.grads();
  bf16* params_bf16 = model_.params_bf16();
  std::int64_t s = 0;  // state offset of the range
  for (const OptimizerRange& r : ranges_) {
    const float wd = r.decay ? static_cast<float>(weight_decay) : 0.0f;
    const std::int64_t o = r.offset;
    bf16* out16 = params_bf16 ? params_bf16 + o : nullptr;
    if (config_.name == "adam") {
      kernels::AdamWParams ap;
      ap.lr = static_cast<float>(lr);
      ap.beta1 = config_.beta1;
      ap.beta2 = config_.beta2;
      ap.eps = config_.eps;
      ap.weight_decay = wd;
      ap.step = step_;
      kernels::adamw_step(params + o, grads + o, state1_.data() + s, state2_.data() + s, r.numel, ap, out16);
    } else {
      kernels::SgdParams sp;
      sp.lr = static_cast<float>(lr);
      sp.momentum = config_.momentum;
      sp.weight_decay = wd;
      sp.first_step = step_ == 1;
      kernels::sgd_step(params + o, grads + o, config_.momentum > 0 ? state1_.data() + s : nullptr, r.numel, sp, out16);
    }
    s += r.numel;
  }
}

}  // namespace primus::train
