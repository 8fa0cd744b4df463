#include "model/qkv_layout.hpp"

#include <cstring>

namespace primus::model {

namespace {

// Calls copy(interleaved_row, split_row) for every row of the fused QKV matrix.
template <typename Copy>
void for_each_row(const QkvShape& s, Copy copy) {
  const std::int64_t per_group = s.heads / s.groups;  // query heads per group
  const std::int64_t d = s.head_dim;
  const std::int64_t q_rows = s.heads * d, kv_rows = s.groups * d;
  for (std::int64_t g = 0; g < s.groups; ++g) {
    const std::int64_t base = g * (per_group + 2) * d;  // group g's first interleaved row
    for (std::int64_t r = 0; r < per_group * d; ++r) copy(base + r, g * per_group * d + r);
    for (std::int64_t r = 0; r < d; ++r) copy(base + per_group * d + r, q_rows + g * d + r);
    for (std::int64_t r = 0; r < d; ++r) copy(base + (per_group + 1) * d + r, q_rows + kv_rows + g * d + r);
  }
}

}  // namespace

void qkv_interleaved_to_split(const float* src, float* dst, const QkvShape& s) {
  const size_t bytes = static_cast<size_t>(s.cols) * sizeof(float);
  for_each_row(s, [&](std::int64_t inter, std::int64_t split) { std::memcpy(dst + split * s.cols, src + inter * s.cols, bytes); });
}

void qkv_split_to_interleaved(const float* src, float* dst, const QkvShape& s) {
  const size_t bytes = static_cast<size_t>(s.cols) * sizeof(float);
  for_each_row(s, [&](std::int64_t inter, std::int64_t split) { std::memcpy(dst + inter * s.cols, src + split * s.cols, bytes); });
}

}  // namespace primus::model
