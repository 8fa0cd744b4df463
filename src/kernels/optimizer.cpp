#include "kernels/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"

namespace primus::kernels {

namespace {
constexpr std::int64_t kParallelMin = 1 << 14;
}

void adamw_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                std::int64_t n, const AdamWParams& p, bf16* param_bf16) {
  if (p.step < 1) fail("adamw: step must be >= 1 (1-based), got {}", p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - p.lr * p.weight_decay;
  const float b1 = p.beta1, b2 = p.beta2, one_b1 = 1.0f - p.beta1, one_b2 = 1.0f - p.beta2;
  const float eps = p.eps;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float m = b1 * exp_avg[i] + one_b1 * g;
    const float v = b2 * exp_avg_sq[i] + one_b2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float w = param[i] * decay - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
    param[i] = w;
  }
  if (param_bf16 != nullptr) convert_f32_to_bf16(param, param_bf16, static_cast<std::size_t>(n));
}

void sgd_step(float* param, const float* grad, float* momentum_buf, std::int64_t n,
              const SgdParams& p, bf16* param_bf16) {
  const float lr = p.lr, wd = p.weight_decay, mu = p.momentum;
  if (mu != 0.0f && momentum_buf == nullptr) fail("sgd: momentum {} needs a momentum buffer", mu);
  if (mu == 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
  } else {
    const float keep = p.first_step ? 0.0f : mu;
    // Nesterov steps along g + mu*buf, plain momentum along buf: one form with a 0/1 weight.
    const float gw = p.nesterov ? 1.0f : 0.0f, bw = p.nesterov ? mu : 1.0f;
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      const float g = grad[i] + wd * param[i];
      const float b = keep * momentum_buf[i] + g;
      momentum_buf[i] = b;
      param[i] -= lr * (gw * g + bw * b);
    }
  }
  if (param_bf16 != nullptr) convert_f32_to_bf16(param, param_bf16, static_cast<std::size_t>(n));
}

}  // namespace primus::kernels
