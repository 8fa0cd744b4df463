// SelfAttention's decode path (generation with a KV cache): the same projections, q/k norms and
// rotary embeddings as forward(), at the new tokens' positions; their keys and values join the
// cache; attention runs over every cached position (kernels/attention_decode.hpp).
#include <cstring>

#include "kernels/attention_decode.hpp"
#include "kernels/rope.hpp"
#include "model/self_attention.hpp"

namespace primus::model {

void SelfAttention::decode(const BlockCall& call, const float* x, float* y, KvCache& cache, KvCache::Layer& layer) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t n = call.tokens(), h = c.hidden, qkv = qkv_width(), nd = q_width(), gd = kv_width();
  const std::int64_t p0 = cache.length;
  float* a_qkv = call.at_saved(qkv_);
  linear_forward(w.linear(qkv_w_, qkv_b_, h, qkv), x, a_qkv, n, call.linear);
  normalize_qk(call, a_qkv, n);
  const float* table = cache.rope_tables.get(c.rope, cache.capacity);
  kernels::rope_forward(a_qkv, table, 1, n, heads_, qkv, c.rope, cache.capacity, cache.positions.data());
  kernels::rope_forward(a_qkv + nd, table, 1, n, groups_, qkv, c.rope, cache.capacity, cache.positions.data());
  for (std::int64_t i = 0; i < n; ++i) {
    std::memcpy(layer.k.data() + (p0 + i) * gd, a_qkv + i * qkv + nd, static_cast<size_t>(gd) * sizeof(float));
    std::memcpy(layer.v.data() + (p0 + i) * gd, a_qkv + i * qkv + nd + gd, static_cast<size_t>(gd) * sizeof(float));
  }
  kernels::AttentionDecodeShape s;
  s.queries = n;
  s.first = p0;
  s.heads = heads_;
  s.groups = groups_;
  s.head_dim = head_dim_;
  s.ld_q = qkv;
  kernels::attention_decode(s, a_qkv, layer.k.data(), layer.v.data(), call.at_saved(attn_), cache.workspace.data(),
                            cache.workspace.size());
  linear_forward(w.linear(proj_w_, proj_b_, nd, h), call.at_saved(attn_), y, n, call.linear);
}

}  // namespace primus::model
