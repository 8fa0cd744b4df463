#include "kernels/attention_decode.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace primus::kernels {

void AttentionDecodeShape::validate() const {
  if (queries <= 0 || first < 0 || heads <= 0 || groups <= 0 || heads % groups != 0 || head_dim <= 0 || v_dim < 0)
    fail("attention decode: bad shape (queries {}, first {}, heads {}, groups {}, head_dim {}, v_dim {})", queries, first,
         heads, groups, head_dim, v_dim);
}

std::size_t attention_decode_workspace(const AttentionDecodeShape& s, int threads) {
  return static_cast<std::size_t>(std::max(threads, 1)) * static_cast<std::size_t>(s.keys());
}

void attention_decode(const AttentionDecodeShape& s, const float* q, const float* k, const float* v, float* out,
                      float* workspace, std::size_t workspace_floats) {
  s.validate();
  const std::int64_t d = s.head_dim, dv = s.v_dim ? s.v_dim : s.head_dim, per = s.heads / s.groups;
  const std::int64_t ldq = s.ld_q ? s.ld_q : s.heads * d, ldk = s.groups * d, ldv = s.groups * dv;
  const float scale = s.softmax_scale > 0.0f ? s.softmax_scale : 1.0f / std::sqrt(static_cast<float>(d));
  const std::int64_t keys = s.keys();
  const int threads = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(omp_get_max_threads()), workspace_floats / static_cast<std::size_t>(keys)));
  if (threads < 1) fail("internal: attention decode workspace of {} floats is too small", workspace_floats);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t item = 0; item < s.queries * s.heads; ++item) {
    const std::int64_t i = item / s.heads, h = item % s.heads, g = h / per;
    const std::int64_t last = s.first + i;  // attends to keys 0..last
    float* scores = workspace + static_cast<std::int64_t>(omp_get_thread_num()) * keys;
    const float* qi = q + i * ldq + h * d;
    float mx = -INFINITY;
    for (std::int64_t j = 0; j <= last; ++j) {
      const float* kj = k + j * ldk + g * d;
      float dot = 0.0f;
      for (std::int64_t c = 0; c < d; ++c) dot += qi[c] * kj[c];
      scores[j] = dot * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.0f;
    for (std::int64_t j = 0; j <= last; ++j) sum += scores[j] = std::exp(scores[j] - mx);
    const float inv = 1.0f / sum;
    float* o = out + (i * s.heads + h) * dv;
    std::fill(o, o + dv, 0.0f);
    for (std::int64_t j = 0; j <= last; ++j) {
      const float p = scores[j] * inv;
      const float* vj = v + j * ldv + g * dv;
      for (std::int64_t c = 0; c < dv; ++c) o[c] += p * vj[c];
    }
  }
}

}  // namespace primus::kernels
