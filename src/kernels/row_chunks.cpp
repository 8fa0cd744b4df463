#include "kernels/row_chunks.hpp"

namespace primus::kernels {

void reduce_row_chunks(const float* partial, std::int64_t cols, float* dst) {
#pragma omp parallel for schedule(static) if (cols >= 4096)
  for (std::int64_t j = 0; j < cols; ++j) {
    float s = 0.0f;
    for (std::int64_t c = 0; c < kRowChunks; ++c) s += partial[c * cols + j];
    dst[j] += s;
  }
}

}  // namespace primus::kernels
