#include "kernels/rmsnorm.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/row_chunks.hpp"

namespace primus::kernels {

void rmsnorm_forward(const float* x, const float* weight, float* y, float* rstd, std::int64_t rows,
                     std::int64_t cols, float eps) {
  if (rows < 0 || cols <= 0) fail("rmsnorm: bad shape [{}, {}]", rows, cols);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t j = 0; j < cols; ++j) ss += xr[j] * xr[j];
    const float s = 1.0f / std::sqrt(ss / static_cast<float>(cols) + eps);
    rstd[r] = s;
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) yr[j] = xr[j] * s * weight[j];
  }
}

std::size_t rmsnorm_backward_workspace(std::int64_t cols) { return row_chunk_workspace(cols); }

void rmsnorm_backward(const float* dy, const float* x, const float* weight, const float* rstd,
                      float* dx, float* dweight, std::int64_t rows, std::int64_t cols,
                      float* workspace) {
  if (rows < 0 || cols <= 0) fail("rmsnorm: bad shape [{}, {}]", rows, cols);
  const float inv_cols = 1.0f / static_cast<float>(cols);
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < kRowChunks; ++c) {
    float* dw = workspace + c * cols;
    for (std::int64_t j = 0; j < cols; ++j) dw[j] = 0.0f;
    for (std::int64_t r = chunk_begin(rows, c); r < chunk_begin(rows, c + 1); ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      float* dxr = dx + r * cols;
      const float s = rstd[r];
      // dx = s * (w*dy - xhat * mean(w*dy*xhat)), xhat = x*s.
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t j = 0; j < cols; ++j) {
        dot += weight[j] * dyr[j] * xr[j];
        dw[j] += dyr[j] * xr[j] * s;
      }
      const float k = dot * s * s * inv_cols;
#pragma omp simd
      for (std::int64_t j = 0; j < cols; ++j) dxr[j] = s * (weight[j] * dyr[j] - xr[j] * k);
    }
  }
  reduce_row_chunks(workspace, cols, dweight);
}

}  // namespace primus::kernels
