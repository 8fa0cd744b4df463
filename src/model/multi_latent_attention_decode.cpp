// MultiLatentAttention's decode path (generation with a KV cache): the same projections and
// rotary embeddings as forward() at the new tokens' positions; each head's assembled key
// [k_nope | k_rope] and value join the cache; attention runs over every cached position.
#include <cstring>

#include "kernels/attention_decode.hpp"
#include "kernels/rope.hpp"
#include "model/multi_latent_attention.hpp"

namespace primus::model {

void MultiLatentAttention::decode(const BlockCall& call, const float* x, float* y, KvCache& cache,
                                  KvCache::Layer& layer) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  const StageWeights& w = call.w;
  const std::int64_t n = call.tokens(), h = c.hidden, kr = m.kv_lora_rank, dr = m.qk_pos_emb_head_dim,
                     dn = m.qk_head_dim, dv = m.v_head_dim, DQ = dq(), p0 = cache.length;
  float* q = project_q(call, x);
  kernels::rope_forward(q + dn, cache.rope_tables.get(rope_q_, cache.capacity), 1, n, n_, n_ * DQ, rope_q_,
                        cache.capacity, cache.positions.data());
  float* kv = project_kv(call, x);
  float* kvc = call.at_saved(kv_c_);
  kernels::rope_forward(kvc + kr, cache.rope_tables.get(rope_k_, cache.capacity), 1, n, 1, kr + dr, rope_k_,
                        cache.capacity, cache.positions.data());
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t hd = 0; hd < n_; ++hd) {
      const float* src = kv + t * kv_up_width() + hd * (dn + dv);
      float* kh = layer.k.data() + (p0 + t) * n_ * DQ + hd * DQ;
      std::memcpy(kh, src, static_cast<size_t>(dn) * sizeof(float));
      std::memcpy(kh + dn, kvc + t * (kr + dr) + kr, static_cast<size_t>(dr) * sizeof(float));
      std::memcpy(layer.v.data() + (p0 + t) * n_ * dv + hd * dv, src + dn, static_cast<size_t>(dv) * sizeof(float));
    }
  kernels::AttentionDecodeShape s;
  s.queries = n;
  s.first = p0;
  s.heads = s.groups = n_;
  s.head_dim = DQ;
  s.v_dim = dv;
  s.softmax_scale = m.softmax_scale;
  kernels::attention_decode(s, q, layer.k.data(), layer.v.data(), call.at_saved(attn_), cache.workspace.data(),
                            cache.workspace.size());
  linear_forward(w.linear(proj_w_, kNoParam, n_ * dv, h), call.at_saved(attn_), y, n, call.linear);
}

}  // namespace primus::model
