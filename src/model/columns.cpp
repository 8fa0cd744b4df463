#include "model/columns.hpp"

#include <cstring>

namespace primus::model {

void gather_columns(const float* src, std::int64_t ld, std::int64_t col, std::int64_t width, float* dst,
                    std::int64_t rows) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * width, src + r * ld + col, static_cast<size_t>(width) * sizeof(float));
}

void scatter_columns(const float* src, std::int64_t width, float* dst, std::int64_t ld, std::int64_t col,
                     std::int64_t rows) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * ld + col, src + r * width, static_cast<size_t>(width) * sizeof(float));
}

}  // namespace primus::model
