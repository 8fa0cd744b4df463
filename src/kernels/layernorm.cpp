#include "kernels/layernorm.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/row_chunks.hpp"

namespace primus::kernels {

void layernorm_forward(const float* x, const float* weight, const float* bias, float* y,
                       float* mean, float* rstd, std::int64_t rows, std::int64_t cols, float eps) {
  if (rows < 0 || cols <= 0) fail("layernorm: bad shape [{}, {}]", rows, cols);
  const float inv_cols = 1.0f / static_cast<float>(cols);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = 0; j < cols; ++j) sum += xr[j];
    const float mu = sum * inv_cols;
    float var = 0.0f;  // two-pass variance: no cancellation for rows with a large mean
#pragma omp simd reduction(+ : var)
    for (std::int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    const float s = 1.0f / std::sqrt(var * inv_cols + eps);
    mean[r] = mu;
    rstd[r] = s;
    if (bias != nullptr) {
#pragma omp simd
      for (std::int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * s * weight[j] + bias[j];
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * s * weight[j];
    }
  }
}

std::size_t layernorm_backward_workspace(std::int64_t cols) {
  return 2 * row_chunk_workspace(cols);
}

void layernorm_backward(const float* dy, const float* x, const float* weight, const float* mean,
                        const float* rstd, float* dx, float* dweight, float* dbias,
                        std::int64_t rows, std::int64_t cols, float* workspace) {
  if (rows < 0 || cols <= 0) fail("layernorm: bad shape [{}, {}]", rows, cols);
  const float inv_cols = 1.0f / static_cast<float>(cols);
  float* dw_part = workspace;
  float* db_part = workspace + row_chunk_workspace(cols);
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < kRowChunks; ++c) {
    float* dw = dw_part + c * cols;
    float* db = db_part + c * cols;
    for (std::int64_t j = 0; j < cols; ++j) dw[j] = db[j] = 0.0f;
    for (std::int64_t r = chunk_begin(rows, c); r < chunk_begin(rows, c + 1); ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      float* dxr = dx + r * cols;
      const float mu = mean[r], s = rstd[r];
      // g = w*dy; dx = s * (g - mean(g) - xhat * mean(g*xhat)).
      float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (std::int64_t j = 0; j < cols; ++j) {
        const float xhat = (xr[j] - mu) * s;
        const float g = weight[j] * dyr[j];
        sum_g += g;
        sum_gx += g * xhat;
        dw[j] += dyr[j] * xhat;
        db[j] += dyr[j];
      }
      const float mg = sum_g * inv_cols, mgx = sum_gx * inv_cols;
#pragma omp simd
      for (std::int64_t j = 0; j < cols; ++j) {
        const float xhat = (xr[j] - mu) * s;
        dxr[j] = s * (weight[j] * dyr[j] - mg - xhat * mgx);
      }
    }
  }
  reduce_row_chunks(dw_part, cols, dweight);
  if (dbias != nullptr) reduce_row_chunks(db_part, cols, dbias);
}

}  // namespace primus::kernels
