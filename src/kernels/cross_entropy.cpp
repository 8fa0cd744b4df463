#include "kernels/cross_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "kernels/simd.hpp"

namespace primus::kernels {

namespace {
using simd::v16;

void check(const std::int32_t* targets, std::int64_t tokens, std::int64_t vocab,
           std::int64_t padded_vocab) {
  if (vocab <= 0 || padded_vocab < vocab)
    fail("cross_entropy: vocab {} must be positive and <= padded vocab {}", vocab, padded_vocab);
  for (std::int64_t t = 0; t < tokens; ++t)
    if (targets[t] < 0 || targets[t] >= vocab)
      fail("cross_entropy: target {} at position {} is outside the vocabulary [0, {})",
           targets[t], t, vocab);
}

float row_max(const float* x, std::int64_t n) {
  v16 m = simd::splat(-std::numeric_limits<float>::infinity());
  std::int64_t j = 0;
  for (; j + simd::kLanes <= n; j += simd::kLanes) m = simd::vmax(m, simd::load(x + j));
  float r = simd::hmax(m);
  for (; j < n; ++j) r = x[j] > r ? x[j] : r;
  return r;
}

float row_sum_exp(const float* x, std::int64_t n, float shift) {
  v16 s{};
  std::int64_t j = 0;
  for (; j + simd::kLanes <= n; j += simd::kLanes) s += simd::exp(simd::load(x + j) - shift);
  float r = simd::hsum(s);
  for (; j < n; ++j) r += simd::exp(x[j] - shift);
  return r;
}
}  // namespace

void cross_entropy_forward(const float* logits, const std::int32_t* targets, float* losses,
                           float* lse, std::int64_t tokens, std::int64_t vocab,
                           std::int64_t padded_vocab) {
  check(targets, tokens, vocab, padded_vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = logits + t * padded_vocab;
    const float m = row_max(row, vocab);
    const float l = m + std::log(row_sum_exp(row, vocab, m));
    lse[t] = l;
    losses[t] = l - row[targets[t]];
  }
}

namespace {
// dlogits row = d * (softmax - onehot(target)); padded columns 0.
void gradient_row(const float* row, float l, float d, std::int32_t target, float* drow,
                  std::int64_t vocab, std::int64_t padded_vocab) {
  std::int64_t j = 0;
  for (; j + simd::kLanes <= vocab; j += simd::kLanes)
    simd::store(drow + j, d * simd::exp(simd::load(row + j) - l));
  for (; j < vocab; ++j) drow[j] = d * simd::exp(row[j] - l);
  for (j = vocab; j < padded_vocab; ++j) drow[j] = 0.0f;
  if (target >= 0) drow[target] -= d;  // -1: the target is another rank's column
}
}  // namespace

void cross_entropy_backward(const float* logits, const float* lse, const std::int32_t* targets,
                            const float* dloss, float* dlogits, std::int64_t tokens,
                            std::int64_t vocab, std::int64_t padded_vocab) {
  check(targets, tokens, vocab, padded_vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t)
    gradient_row(logits + t * padded_vocab, lse[t], dloss[t], targets[t],
                 dlogits + t * padded_vocab, vocab, padded_vocab);
}

void cross_entropy_fused(const float* logits, const std::int32_t* targets, const float* dloss,
                         float* losses, float* lse, float* dlogits, std::int64_t tokens,
                         std::int64_t vocab, std::int64_t padded_vocab) {
  check(targets, tokens, vocab, padded_vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = logits + t * padded_vocab;
    const float m = row_max(row, vocab);
    const float l = m + std::log(row_sum_exp(row, vocab, m));
    lse[t] = l;
    losses[t] = l - row[targets[t]];  // read before the in-place gradient overwrites it
    gradient_row(row, l, dloss[t], targets[t], dlogits + t * padded_vocab, vocab, padded_vocab);
  }
}

namespace {
// This rank's real columns: [0, n) of its local slice.
std::int64_t real_columns(std::int64_t local, std::int64_t v0, std::int64_t vocab) {
  return std::max<std::int64_t>(0, std::min(local, vocab - v0));
}
}  // namespace

void cross_entropy_local_max(const float* logits, float* max, std::int64_t tokens, std::int64_t local,
                             std::int64_t v0, std::int64_t vocab) {
  const std::int64_t n = real_columns(local, v0, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t)
    max[t] = n > 0 ? row_max(logits + t * local, n) : -std::numeric_limits<float>::infinity();
}

void cross_entropy_local_sums(const float* logits, const std::int32_t* targets, const float* max,
                              float* sum_exp, float* target, std::int64_t tokens, std::int64_t local,
                              std::int64_t v0, std::int64_t vocab) {
  check(targets, tokens, vocab, std::max(vocab, v0 + local));
  const std::int64_t n = real_columns(local, v0, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = logits + t * local;
    sum_exp[t] = n > 0 ? row_sum_exp(row, n, max[t]) : 0.0f;
    const std::int64_t j = targets[t] - v0;
    target[t] = (j >= 0 && j < local) ? row[j] : 0.0f;
  }
}

void cross_entropy_local_backward(const float* logits, const float* lse, const std::int32_t* targets,
                                  const float* dloss, float* dlogits, std::int64_t tokens,
                                  std::int64_t local, std::int64_t v0, std::int64_t vocab) {
  const std::int64_t n = real_columns(local, v0, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t j = targets[t] - v0;
    gradient_row(logits + t * local, lse[t], dloss[t], (j >= 0 && j < local) ? static_cast<std::int32_t>(j) : -1,
                 dlogits + t * local, n, local);
  }
}

}  // namespace primus::kernels
