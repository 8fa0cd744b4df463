#include "kernels/router.hpp"

#include <cmath>

#include "core/error.hpp"

namespace primus::kernels {

namespace {

// Per-token scratch lives on the stack (no allocation per call).
constexpr std::int64_t kMaxExperts = 1024;

void validate(const RouterConfig& c) {
  if (c.experts <= 0 || c.topk <= 0 || c.topk > c.experts)
    fail("router: top-k {} must be between 1 and the number of experts {}", c.topk, c.experts);
  if (c.experts > kMaxExperts)
    fail("router: {} experts exceed the supported {}", c.experts, kMaxExperts);
  if (c.pre_softmax && c.score != RouterScore::Softmax)
    fail("router: pre-softmax routing needs the softmax score function");
  if (c.num_groups > 0) {
    if (c.experts % c.num_groups != 0 || c.group_topk <= 0 || c.group_topk > c.num_groups ||
        c.topk % c.group_topk != 0 || c.topk / c.group_topk > c.experts / c.num_groups)
      fail("router: group-limited routing needs experts ({}) divisible by groups ({}), 1 <= group top-k ({}) <= "
           "groups, and top-k ({}) divisible by the group top-k with top-k / group top-k <= experts per group",
           c.experts, c.num_groups, c.group_topk, c.topk);
  }
}

// Softmax over n values into out (max-shifted).
void softmax(const float* x, std::int64_t n, float* out) {
  float m = x[0];
  for (std::int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float sum = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) sum += out[i] = std::exp(x[i] - m);
  const float inv = 1.0f / sum;
  for (std::int64_t i = 0; i < n; ++i) out[i] *= inv;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Top-k of s[0:n] by selection (k is small): descending, ties to the lower index.
void topk(const float* s, std::int64_t n, std::int64_t k, std::int32_t* idx) {
  for (std::int64_t j = 0; j < k; ++j) {
    std::int64_t best = -1;
    for (std::int64_t e = 0; e < n; ++e) {
      bool taken = false;
      for (std::int64_t t = 0; t < j; ++t) taken |= idx[t] == e;
      if (!taken && (best < 0 || s[e] > s[best])) best = e;
    }
    idx[j] = static_cast<std::int32_t>(best);
  }
}

// Group-limited top-k: candidates are the experts of the top group_topk groups by the sum of
// their top (k / group_topk) scores.
void group_topk(const RouterConfig& c, const float* s, std::int32_t* idx) {
  const std::int64_t per_group = c.experts / c.num_groups, pick = c.topk / c.group_topk;
  float group_score[kMaxExperts], masked[kMaxExperts];
  std::int32_t tmp[kMaxExperts];
  for (std::int64_t g = 0; g < c.num_groups; ++g) {
    topk(s + g * per_group, per_group, pick, tmp);
    float sum = 0.0f;
    for (std::int64_t j = 0; j < pick; ++j) sum += s[g * per_group + tmp[j]];
    group_score[g] = sum;
  }
  topk(group_score, c.num_groups, c.group_topk, tmp);
  for (std::int64_t e = 0; e < c.experts; ++e) masked[e] = -INFINITY;
  for (std::int64_t j = 0; j < c.group_topk; ++j)
    for (std::int64_t e = tmp[j] * per_group; e < (tmp[j] + 1) * per_group; ++e) masked[e] = s[e];
  topk(masked, c.experts, c.topk, idx);
}

// Per-token scores the top-k ranks: logits themselves (post-softmax: softmax is monotonic;
// sigmoid likewise) or the full softmax (pre-softmax), into `s`.
void scores(const RouterConfig& c, const float* logits, float* s) {
  if (c.pre_softmax) {
    softmax(logits, c.experts, s);
  } else if (c.score == RouterScore::Sigmoid) {
    for (std::int64_t e = 0; e < c.experts; ++e) s[e] = sigmoid(logits[e]);
  } else {
    for (std::int64_t e = 0; e < c.experts; ++e) s[e] = logits[e];
  }
}

}  // namespace

void router_topk_forward(const RouterConfig& c, const float* logits, float* probs,
                         std::int32_t* indices, std::int64_t tokens, const float* expert_bias) {
  validate(c);
  if (expert_bias && c.score != RouterScore::Sigmoid)
    fail("router: the expert bias needs the sigmoid score function");
  const std::int64_t E = c.experts, K = c.topk;
#pragma omp parallel
  {
    float s[kMaxExperts], sel[kMaxExperts], picked[kMaxExperts];
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < tokens; ++t) {
      const float* row = logits + t * E;
      std::int32_t* idx = indices + t * K;
      float* p = probs + t * K;
      scores(c, row, s);
      const float* rank = s;
      if (expert_bias) {
        for (std::int64_t e = 0; e < E; ++e) sel[e] = s[e] + expert_bias[e];
        rank = sel;
      }
      if (c.num_groups > 0) group_topk(c, rank, idx);
      else topk(rank, E, K, idx);
      for (std::int64_t j = 0; j < K; ++j) picked[j] = s[idx[j]];
      if (c.score == RouterScore::Softmax && !c.pre_softmax) {
        softmax(picked, K, p);
      } else if (c.score == RouterScore::Sigmoid && K > 1) {
        float sum = 0.0f;
        for (std::int64_t j = 0; j < K; ++j) sum += picked[j];
        for (std::int64_t j = 0; j < K; ++j) p[j] = picked[j] / (sum + 1e-20f);
      } else {
        for (std::int64_t j = 0; j < K; ++j) p[j] = picked[j];
      }
      for (std::int64_t j = 0; j < K; ++j) p[j] *= c.scaling_factor;
    }
  }
}

void router_topk_backward(const RouterConfig& c, const float* logits,
                          const std::int32_t* indices, const float* dprobs, float* dlogits,
                          std::int64_t tokens) {
  validate(c);
  const std::int64_t E = c.experts, K = c.topk;
#pragma omp parallel
  {
    float s[kMaxExperts], ds[kMaxExperts], picked[kMaxExperts], p[kMaxExperts];
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < tokens; ++t) {
      const float* row = logits + t * E;
      const std::int32_t* idx = indices + t * K;
      float* out = dlogits + t * E;
      for (std::int64_t e = 0; e < E; ++e) out[e] = 0.0f;
      scores(c, row, s);
      for (std::int64_t j = 0; j < K; ++j) picked[j] = s[idx[j]];
      const float* g = dprobs + t * K;
      if (c.score == RouterScore::Softmax && !c.pre_softmax) {
        // probs = sf * softmax(z_idx): dz_j = p_j (g_j - sum_i p_i g_i) * sf.
        softmax(picked, K, p);
        float dot = 0.0f;
        for (std::int64_t j = 0; j < K; ++j) dot += p[j] * g[j];
        for (std::int64_t j = 0; j < K; ++j) out[idx[j]] = c.scaling_factor * p[j] * (g[j] - dot);
      } else if (c.pre_softmax) {
        // probs = sf * s[idx], s = softmax(z): dz = s * (ds - sum(s * ds)).
        for (std::int64_t e = 0; e < E; ++e) ds[e] = 0.0f;
        for (std::int64_t j = 0; j < K; ++j) ds[idx[j]] = c.scaling_factor * g[j];
        float dot = 0.0f;
        for (std::int64_t e = 0; e < E; ++e) dot += s[e] * ds[e];
        for (std::int64_t e = 0; e < E; ++e) out[e] = s[e] * (ds[e] - dot);
      } else {
        // Sigmoid: q = s[idx]; probs = sf * q / Z (Z = sum q + 1e-20) when K > 1, else sf * q.
        float dq_common = 0.0f, z = 1.0f;
        if (K > 1) {
          z = 1e-20f;
          for (std::int64_t j = 0; j < K; ++j) z += picked[j];
          for (std::int64_t j = 0; j < K; ++j) dq_common += g[j] * picked[j];
          dq_common /= z * z;
        }
        for (std::int64_t j = 0; j < K; ++j) {
          const float dq = c.scaling_factor * (g[j] / z - dq_common);
          out[idx[j]] = dq * picked[j] * (1.0f - picked[j]);
        }
      }
    }
  }
}

float router_aux_loss(const float* logits, const std::int32_t* indices, std::int64_t tokens,
                      std::int64_t experts, std::int64_t topk, float coeff, float grad_scale,
                      float* dlogits) {
  validate(RouterConfig{.experts = experts, .topk = topk});
  if (tokens <= 0) return 0.0f;
  float f[kMaxExperts] = {};
  for (std::int64_t i = 0; i < tokens * topk; ++i) {
    if (indices[i] < 0 || indices[i] >= experts)
      fail("router: expert index {} outside [0, {})", indices[i], experts);
    f[indices[i]] += 1.0f;
  }
  const double c = static_cast<double>(coeff) * static_cast<double>(experts) /
                   (static_cast<double>(topk) * static_cast<double>(tokens) * tokens);
  const auto cf = static_cast<float>(c);
  // Per-chunk partial sums added in chunk order: the loss is identical for any thread count.
  constexpr std::int64_t kChunks = 32;
  double partial[kChunks] = {};
#pragma omp parallel for schedule(static)
  for (std::int64_t chunk = 0; chunk < kChunks; ++chunk) {
    float s[kMaxExperts];
    for (std::int64_t t = tokens * chunk / kChunks; t < tokens * (chunk + 1) / kChunks; ++t) {
      softmax(logits + t * experts, experts, s);
      // d/dz of sum_e f_e s_e = s_e (f_e - sum_j s_j f_j).
      float sf = 0.0f;
      for (std::int64_t e = 0; e < experts; ++e) sf += s[e] * f[e];
      partial[chunk] += sf;
      float* d = dlogits + t * experts;
      for (std::int64_t e = 0; e < experts; ++e) d[e] += grad_scale * cf * s[e] * (f[e] - sf);
    }
  }
  double loss = 0.0;
  for (double p : partial) loss += p;
  return static_cast<float>(c * loss);
}

}  // namespace primus::kernels
