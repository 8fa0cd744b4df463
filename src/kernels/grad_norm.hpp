// Global gradient L2 norm and clipping (Megatron --clip-grad): the norm is taken over all
// gradient buffers together; when it exceeds max_norm, every gradient is scaled by
// max_norm / (norm + 1e-6).
// Sums of squares are accumulated in double over fixed-size blocks combined in order, so the
// norm is identical for any thread count.
#pragma once

#include <cstdint>
#include <span>

namespace primus::kernels {

struct GradSpan {
  float* data;
  std::int64_t size;
};

// sum of x[i]^2 over [n], in double, deterministic.
double sum_squares(const float* x, std::int64_t n);

// Returns the global L2 norm (before clipping) of all spans; scales them in place when
// max_norm > 0 and norm > max_norm. A non-finite norm is returned as is and nothing is scaled
// (the caller skips the step, as Megatron does on NaN/inf).
float clip_grad_norm(std::span<const GradSpan> grads, float max_norm);

}  // namespace primus::kernels
