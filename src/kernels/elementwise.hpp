// Element-wise passes over flat fp32 arrays (residual adds, gradient scaling, weight casts).
// Vectorised by the compiler, OpenMP-parallel above a size threshold.
#pragma once

#include <cstdint>

#include "core/dtype.hpp"

namespace primus::kernels {

// out[i] = a[i] + b[i]        (out may alias a or b)
void add(const float* a, const float* b, float* out, std::int64_t n);
// y[i] += alpha * x[i]
void axpy(float alpha, const float* x, float* y, std::int64_t n);
// x[i] *= s
void scale(float* x, float s, std::int64_t n);
// x[i] = v
void fill(float* x, float v, std::int64_t n);
// dst[i] = bf16(src[i]), round-to-nearest-even (bf16 compute copy of fp32 master weights).
void cast_f32_to_bf16(const float* src, bf16* dst, std::int64_t n);
// dst[i] = float(src[i]).
void cast_bf16_to_f32(const bf16* src, float* dst, std::int64_t n);

}  // namespace primus::kernels
