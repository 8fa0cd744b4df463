#include "kernels/grad_norm.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/elementwise.hpp"

namespace primus::kernels {

double sum_squares(const float* x, std::int64_t n) {
  constexpr std::int64_t kBlock = 1 << 14;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  double total = 0.0;
  // Each block is summed in fp32 lanes then widened; blocks are added in index order.
#pragma omp parallel for ordered schedule(static) if (blocks > 1)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = lo; i < hi; ++i) s += x[i] * x[i];
#pragma omp ordered
    total += static_cast<double>(s);
  }
  return total;
}

float clip_grad_norm(std::span<const GradSpan> grads, float max_norm) {
  double ss = 0.0;
  for (const GradSpan& g : grads) ss += sum_squares(g.data, g.size);
  const float norm = static_cast<float>(std::sqrt(ss));
  if (!std::isfinite(norm)) return norm;
  if (max_norm > 0.0f) {
    const float coeff = max_norm / (norm + 1e-6f);
    if (coeff < 1.0f)
      for (const GradSpan& g : grads) scale(g.data, coeff, g.size);
  }
  return norm;
}

}  // namespace primus::kernels
