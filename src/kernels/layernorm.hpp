// LayerNorm (GPT-style models; Megatron --normalization LayerNorm):
//   y = (x - mean) / sqrt(var + eps) * w + b,  var the biased variance over the row.
// Hand-written so that forward saves mean/rstd in our layout and backward fuses dx, dw, db.
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

// x [rows, cols], weight [cols], bias [cols] (nullptr: no bias) -> y [rows, cols] (may alias x),
// mean [rows], rstd [rows] (saved for backward).
void layernorm_forward(const float* x, const float* weight, const float* bias, float* y,
                       float* mean, float* rstd, std::int64_t rows, std::int64_t cols, float eps);

// Floats of workspace layernorm_backward needs (independent of rows).
std::size_t layernorm_backward_workspace(std::int64_t cols);

// dy, x [rows, cols]; weight [cols]; mean, rstd [rows]
// -> dx [rows, cols] (overwritten; may alias dy), dweight [cols] and dbias [cols] ACCUMULATED
// (dbias may be nullptr). workspace: layernorm_backward_workspace(cols) floats.
void layernorm_backward(const float* dy, const float* x, const float* weight, const float* mean,
                        const float* rstd, float* dx, float* dweight, float* dbias,
                        std::int64_t rows, std::int64_t cols, float* workspace);

}  // namespace primus::kernels
