// Copies of column blocks between row-major matrices (e.g. the q part of a fused [q | k | v]
// activation into a contiguous [T, n·d] buffer and back).
#pragma once

#include <cstdint>

namespace primus::model {

// dst [rows, width] = src[:, col:col+width] of src [rows, ld].
void gather_columns(const float* src, std::int64_t ld, std::int64_t col, std::int64_t width, float* dst,
                    std::int64_t rows);
// dst[:, col:col+width] of dst [rows, ld] = src [rows, width].
void scatter_columns(const float* src, std::int64_t width, float* dst, std::int64_t ld, std::int64_t col,
                     std::int64_t rows);

}  // namespace primus::model
