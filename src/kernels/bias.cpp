#include "kernels/bias.hpp"

#include "kernels/row_chunks.hpp"

namespace primus::kernels {

void bias_add_forward(float* y, const float* bias, std::int64_t rows, std::int64_t cols) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
#pragma omp simd
    for (std::int64_t j = 0; j < cols; ++j) yr[j] += bias[j];
  }
}

std::size_t bias_backward_workspace(std::int64_t cols) { return row_chunk_workspace(cols); }

void bias_backward(const float* dy, float* dbias, std::int64_t rows, std::int64_t cols,
                   float* workspace) {
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < kRowChunks; ++c) {
    float* part = workspace + c * cols;
    for (std::int64_t j = 0; j < cols; ++j) part[j] = 0.0f;
    for (std::int64_t r = chunk_begin(rows, c); r < chunk_begin(rows, c + 1); ++r) {
      const float* g = dy + r * cols;
#pragma omp simd
      for (std::int64_t j = 0; j < cols; ++j) part[j] += g[j];
    }
  }
  reduce_row_chunks(workspace, cols, dbias);
}

}  // namespace primus::kernels
