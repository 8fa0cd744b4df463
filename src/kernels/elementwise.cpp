#include "kernels/elementwise.hpp"

namespace primus::kernels {

namespace {
constexpr std::int64_t kParallelMin = 1 << 15;
}

void add(const float* a, const float* b, float* out, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void axpy(float alpha, const float* x, float* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void scale(float* x, float s, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) x[i] *= s;
}

void fill(float* x, float v, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) x[i] = v;
}

void cast_f32_to_bf16(const float* src, bf16* dst, std::int64_t n) {
  convert_f32_to_bf16(src, dst, static_cast<std::size_t>(n));
}

void cast_bf16_to_f32(const bf16* src, float* dst, std::int64_t n) {
  convert_bf16_to_f32(src, dst, static_cast<std::size_t>(n));
}

}  // namespace primus::kernels
