#include "kernels/embedding.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace primus::kernels {

namespace {
void check_ids(const std::int32_t* ids, std::int64_t tokens, std::int64_t vocab) {
  for (std::int64_t t = 0; t < tokens; ++t)
    if (ids[t] < 0 || ids[t] >= vocab)
      fail("embedding: token id {} at position {} is outside the vocabulary [0, {})", ids[t], t,
           vocab);
}
}  // namespace

void embedding_forward(const std::int32_t* ids, const float* table, float* out,
                       std::int64_t tokens, std::int64_t vocab, std::int64_t hidden) {
  check_ids(ids, tokens, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t)
    std::memcpy(out + t * hidden, table + static_cast<std::int64_t>(ids[t]) * hidden,
                sizeof(float) * hidden);
}

void embedding_backward(const std::int32_t* ids, const float* dout, float* dtable,
                        std::int64_t tokens, std::int64_t vocab, std::int64_t hidden) {
  check_ids(ids, tokens, vocab);
  constexpr std::int64_t kBlock = 64;  // columns per task: one cache line of 16 floats x 4
  const std::int64_t blocks = (hidden + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t j0 = b * kBlock, j1 = std::min(hidden, j0 + kBlock);
    for (std::int64_t t = 0; t < tokens; ++t) {
      float* row = dtable + static_cast<std::int64_t>(ids[t]) * hidden;
      const float* g = dout + t * hidden;
#pragma omp simd
      for (std::int64_t j = j0; j < j1; ++j) row[j] += g[j];
    }
  }
}

void embedding_forward_shard(const std::int32_t* ids, const float* table, float* out, std::int64_t tokens,
                             std::int64_t vocab, std::int64_t first_row, std::int64_t rows, std::int64_t hidden) {
  check_ids(ids, tokens, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t r = ids[t] - first_row;
    if (r >= 0 && r < rows) std::memcpy(out + t * hidden, table + r * hidden, sizeof(float) * hidden);
    else std::fill(out + t * hidden, out + (t + 1) * hidden, 0.0f);
  }
}

void embedding_backward_shard(const std::int32_t* ids, const float* dout, float* dtable, std::int64_t tokens,
                              std::int64_t vocab, std::int64_t first_row, std::int64_t rows, std::int64_t hidden) {
  check_ids(ids, tokens, vocab);
  constexpr std::int64_t kBlock = 64;
  const std::int64_t blocks = (hidden + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t j0 = b * kBlock, j1 = std::min(hidden, j0 + kBlock);
    for (std::int64_t t = 0; t < tokens; ++t) {
      const std::int64_t r = ids[t] - first_row;
      if (r < 0 || r >= rows) continue;
      float* row = dtable + r * hidden;
      const float* g = dout + t * hidden;
#pragma omp simd
      for (std::int64_t j = j0; j < j1; ++j) row[j] += g[j];
    }
  }
}

}  // namespace primus::kernels
