#include "kernels/moe_dispatch.hpp"

#include <cstring>

#include "core/error.hpp"

namespace primus::kernels {

void moe_plan(const std::int32_t* indices, std::int64_t tokens, std::int64_t topk,
              std::int64_t experts, const MoePlan& plan) {
  if (topk <= 0 || experts <= 0 || topk > experts)
    fail("moe: top-k {} must be between 1 and the number of experts {}", topk, experts);
  for (std::int64_t e = 0; e < experts; ++e) plan.counts[e] = 0;
  for (std::int64_t i = 0; i < tokens * topk; ++i) {
    const std::int32_t e = indices[i];
    if (e < 0 || e >= experts)
      fail("moe: expert index {} at token {} is outside [0, {})", e, i / topk, experts);
    ++plan.counts[e];
  }
  plan.offsets[0] = 0;
  for (std::int64_t e = 0; e < experts; ++e) plan.offsets[e + 1] = plan.offsets[e] + plan.counts[e];
  // Stable counting sort: scanning tokens in order keeps them ascending within each expert.
  // counts is reused as the fill cursor, then restored.
  for (std::int64_t e = 0; e < experts; ++e) plan.counts[e] = 0;
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t j = 0; j < topk; ++j) {
      const std::int32_t e = indices[t * topk + j];
      const std::int32_t r = plan.offsets[e] + plan.counts[e]++;
      plan.row_of[t * topk + j] = r;
      plan.token_of[r] = static_cast<std::int32_t>(t);
    }
}

void moe_permute_forward(const float* x, const MoePlan& plan, std::int64_t tokens,
                         std::int64_t topk, std::int64_t hidden, float* permuted) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < tokens * topk; ++r)
    std::memcpy(permuted + r * hidden, x + static_cast<std::int64_t>(plan.token_of[r]) * hidden,
                sizeof(float) * hidden);
}

void moe_permute_backward(const float* dpermuted, const MoePlan& plan, std::int64_t tokens,
                          std::int64_t topk, std::int64_t hidden, float* dx) {
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    float* out = dx + t * hidden;
    for (std::int64_t c = 0; c < hidden; ++c) out[c] = 0.0f;
    for (std::int64_t j = 0; j < topk; ++j) {
      const float* g = dpermuted + static_cast<std::int64_t>(plan.row_of[t * topk + j]) * hidden;
#pragma omp simd
      for (std::int64_t c = 0; c < hidden; ++c) out[c] += g[c];
    }
  }
}

void moe_unpermute_forward(const float* expert_out, const float* probs, const MoePlan& plan,
                           std::int64_t tokens, std::int64_t topk, std::int64_t hidden,
                           float* y) {
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    float* out = y + t * hidden;
    for (std::int64_t c = 0; c < hidden; ++c) out[c] = 0.0f;
    for (std::int64_t j = 0; j < topk; ++j) {
      const float p = probs[t * topk + j];
      const float* e = expert_out + static_cast<std::int64_t>(plan.row_of[t * topk + j]) * hidden;
#pragma omp simd
      for (std::int64_t c = 0; c < hidden; ++c) out[c] += p * e[c];
    }
  }
}

void moe_unpermute_backward(const float* dy, const float* expert_out, const float* probs,
                            const MoePlan& plan, std::int64_t tokens, std::int64_t topk,
                            std::int64_t hidden, float* dexpert_out, float* dprobs) {
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* g = dy + t * hidden;
    for (std::int64_t j = 0; j < topk; ++j) {
      const std::int64_t r = plan.row_of[t * topk + j];
      const float p = probs[t * topk + j];
      const float* e = expert_out + r * hidden;
      float* de = dexpert_out + r * hidden;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t c = 0; c < hidden; ++c) {
        dot += g[c] * e[c];
        de[c] = p * g[c];
      }
      dprobs[t * topk + j] = dot;
    }
  }
}

}  // namespace primus::kernels
