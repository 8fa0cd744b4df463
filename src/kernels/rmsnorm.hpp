// RMSNorm (Llama; Megatron --normalization RMSNorm):  y = x / sqrt(mean(x^2) + eps) * w.
// Also used for QK-norm (rows = tokens*heads, cols = head_dim). Hand-written: one fused pass per
// row; oneDNN's layer normalization has no RMS variant in 2.6.
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

// x [rows, cols], weight [cols] -> y [rows, cols], rstd [rows] (saved for backward).
// y may alias x.
void rmsnorm_forward(const float* x, const float* weight, float* y, float* rstd, std::int64_t rows,
                     std::int64_t cols, float eps);

// Floats of workspace rmsnorm_backward needs (independent of rows).
std::size_t rmsnorm_backward_workspace(std::int64_t cols);

// dy [rows, cols], x [rows, cols] (the forward input), weight [cols], rstd [rows]
// -> dx [rows, cols] (overwritten; may alias dy), dweight [cols] (ACCUMULATED: += ).
// workspace: rmsnorm_backward_workspace(cols) floats.
void rmsnorm_backward(const float* dy, const float* x, const float* weight, const float* rstd,
                      float* dx, float* dweight, std::int64_t rows, std::int64_t cols,
                      float* workspace);

}  // namespace primus::kernels
