#include "train/optimizer.hpp"

#include "core/error.hpp"
#include "kernels/optimizer.hpp"

namespace primus::train {

OptimizerConfig OptimizerConfig::from_args(const config::Args& a) {
  return OptimizerConfig{a.optimizer, static_cast<float>(a.adam_beta1), static_cast<float>(a.adam_beta2),
                         static_cast<float>(a.adam_eps), static_cast<float>(a.sgd_momentum)};
}

Optimizer::Optimizer(const OptimizerConfig& config, model::GPTModel& model) : model_(model), config_(config) {
  if (config_.name != "adam" && config_.name != "sgd")
    fail("optimizer '{}' is not supported by this engine; use adam or sgd", config_.name);
  const auto n = static_cast<size_t>(model.num_params());
  state1_ = AlignedBuffer<float>(n);
  if (config_.name == "adam") state2_ = AlignedBuffer<float>(n);
}

void Optimizer::step(double lr, double weight_decay) {
  ++step_;
  float* params = model_.params();
  const float* grads = model_.grads();
  bf16* params_bf16 = model_.params_bf16();
  for (const auto& p : model_.layout().params()) {
    // Tied output weights share the embedding's storage: it appears once in the layout.
    const float wd = p.decay ? static_cast<float>(weight_decay) : 0.0f;
    const std::int64_t o = p.offset;
    bf16* out16 = params_bf16 ? params_bf16 + o : nullptr;
    if (config_.name == "adam") {
      kernels::AdamWParams ap;
      ap.lr = static_cast<float>(lr);
      ap.beta1 = config_.beta1;
      ap.beta2 = config_.beta2;
      ap.eps = config_.eps;
      ap.weight_decay = wd;
      ap.step = step_;
      kernels::adamw_step(params + o, grads + o, state1_.data() + o, state2_.data() + o, p.numel(), ap, out16);
    } else {
      kernels::SgdParams sp;
      sp.lr = static_cast<float>(lr);
      sp.momentum = config_.momentum;
      sp.weight_decay = wd;
      sp.first_step = step_ == 1;
      kernels::sgd_step(params + o, grads + o, config_.momentum > 0 ? state1_.data() + o : nullptr, p.numel(), sp, out16);
    }
  }
}

}  // namespace primus::train
