#include "model/self_attention.hpp"

#include <algorithm>
#include <cstring>

#include "core/threads.hpp"
#include "kernels/attention.hpp"
#include "kernels/rope.hpp"
#include "model/columns.hpp"
#include "model/norm.hpp"

namespace primus::model {

namespace {

// Rows of Megatron's interleaved QKV tensor (per query group: its q heads, then k, then v, each
// head_dim rows) for groups [g0, g0 + ng), in this engine's order [all q; all k; all v].
Shard qkv_shard(std::int64_t heads, std::int64_t groups, std::int64_t head_dim, std::int64_t g0, std::int64_t ng) {
  const std::int64_t per_group = heads / groups, block = (per_group + 2) * head_dim;
  Shard s;
  for (std::int64_t part = 0; part < 3; ++part)
    for (std::int64_t g = g0; g < g0 + ng; ++g) {
      const std::int64_t start = g * block + (part == 0 ? 0 : part == 1 ? per_group * head_dim : (per_group + 1) * head_dim);
      s.rows.push_back(RowRange{start, part == 0 ? per_group * head_dim : head_dim});
    }
  return s;
}

kernels::AttentionShape attention_shape(std::int64_t batch, std::int64_t seq, std::int64_t heads, std::int64_t groups,
                                        std::int64_t head_dim) {
  kernels::AttentionShape a;
  a.batch = batch;
  a.seq = seq;
  a.heads = heads;
  a.groups = groups;
  a.head_dim = head_dim;
  a.ld_q = a.ld_kv = (heads + 2 * groups) * head_dim;
  a.ld_o = heads * head_dim;
  return a;
}

}  // namespace

SelfAttention::SelfAttention(const BuildContext& ctx, const std::string& prefix, float output_init_std,
                             BufferPlan& saved)
    : c_(ctx.config), heads_(ctx.config.heads), groups_(ctx.config.groups), head_dim_(ctx.config.head_dim) {
  const ModelConfig& c = c_;
  const bool ln = c.norm == Norm::LayerNorm;
  const std::int64_t h = c.hidden, d = head_dim_, global_qkv = (c.heads + 2 * c.groups) * d;
  ParameterLayout& L = ctx.layout;
  Shard rows = qkv_shard(c.heads, c.groups, d, 0, c.groups);
  qkv_w_ = L.add({.name = prefix + "linear_qkv.weight", .global_rows = global_qkv, .global_cols = h, .init_std = c.init_std,
                  .shard = rows, .tensor_parallel = true});
  qkv_b_ = c.qkv_bias ? L.add({.name = prefix + "linear_qkv.bias", .global_rows = global_qkv, .decay = false, .shard = rows,
                               .tensor_parallel = true})
                      : kNoParam;
  q_norm_w_ = q_norm_b_ = k_norm_w_ = k_norm_b_ = kNoParam;
  if (c.qk_layernorm) {
    q_norm_w_ = L.add({.name = prefix + "q_layernorm.weight", .global_rows = d, .decay = false, .init_value = 1.0f});
    if (ln) q_norm_b_ = L.add({.name = prefix + "q_layernorm.bias", .global_rows = d, .decay = false});
    k_norm_w_ = L.add({.name = prefix + "k_layernorm.weight", .global_rows = d, .decay = false, .init_value = 1.0f});
    if (ln) k_norm_b_ = L.add({.name = prefix + "k_layernorm.bias", .global_rows = d, .decay = false});
  }
  proj_w_ = L.add({.name = prefix + "linear_proj.weight", .global_rows = h, .global_cols = c.heads * d,
                   .init_std = output_init_std, .tensor_parallel = true});
  proj_b_ = c.linear_bias ? L.add({.name = prefix + "linear_proj.bias", .global_rows = h, .decay = false}) : kNoParam;

  const std::int64_t T = ctx.tokens(), qk = c.qk_layernorm ? 1 : 0, lnq = (c.qk_layernorm && ln) ? 1 : 0;
  ctx.linear.need(T, h, qkv_width());
  ctx.linear.need(T, q_width(), h);
  qkv_ = saved.add(T * qkv_width());
  q_raw_ = saved.add(qk * T * q_width());
  k_raw_ = saved.add(qk * T * kv_width());
  q_mean_ = saved.add(lnq * T * heads_);
  q_rstd_ = saved.add(qk * T * heads_);
  k_mean_ = saved.add(lnq * T * groups_);
  k_rstd_ = saved.add(qk * T * groups_);
  attn_ = saved.add(T * q_width());
  lse_ = saved.add(ctx.batch * heads_ * ctx.seq);

  const auto shape = attention_shape(ctx.batch, ctx.seq, heads_, groups_, d);
  shape.validate();
  const int threads = num_threads();
  attn_ws_floats_ = std::max(kernels::attention_forward_workspace(shape, threads),
                             kernels::attention_backward_workspace(shape, threads));
  d_attn_ = scratch_.add(T * q_width());
  d_qkv_ = scratch_.add(T * qkv_width());
  qk_tmp_ = scratch_.add(qk * T * q_width());
  norm_ws_ = scratch_.add(norm_workspace(d));
  attn_ws_ = scratch_.add(static_cast<std::int64_t>(attn_ws_floats_));
  rope_table_ = ctx.rope_tables.get(c.rope, ctx.seq);
}

void SelfAttention::forward(const BlockCall& call, const float* x, float* y) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden, d = head_dim_, qkv = qkv_width(), nd = q_width(),
                     gd = kv_width();
  float* a_qkv = call.at_saved(qkv_);
  linear_forward(w.linear(qkv_w_, qkv_b_, h, qkv), x, a_qkv, T, call.linear);
  if (c.qk_layernorm) {
    // Norm over head_dim of each query head / key group, before rope (Megatron-Core's q/k_layernorm).
    float* tmp = call.at_scratch(qk_tmp_);
    gather_columns(a_qkv, qkv, 0, nd, call.at_saved(q_raw_), T);
    gather_columns(a_qkv, qkv, nd, gd, call.at_saved(k_raw_), T);
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(q_norm_w_), w.p(q_norm_b_), nullptr, nullptr}, call.at_saved(q_raw_),
                 tmp, call.at_saved(q_mean_), call.at_saved(q_rstd_), T * heads_, d);
    scatter_columns(tmp, nd, a_qkv, qkv, 0, T);
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(k_norm_w_), w.p(k_norm_b_), nullptr, nullptr}, call.at_saved(k_raw_),
                 tmp, call.at_saved(k_mean_), call.at_saved(k_rstd_), T * groups_, d);
    scatter_columns(tmp, gd, a_qkv, qkv, nd, T);
  }
  kernels::rope_forward(a_qkv, rope_table_, call.batch, call.seq, heads_, qkv, c.rope, call.seq);
  kernels::rope_forward(a_qkv + nd, rope_table_, call.batch, call.seq, groups_, qkv, c.rope, call.seq);
  kernels::attention_forward(attention_shape(call.batch, call.seq, heads_, groups_, d), a_qkv, a_qkv + nd,
                             a_qkv + nd + gd, call.at_saved(attn_), call.at_saved(lse_), call.at_scratch(attn_ws_),
                             attn_ws_floats_);
  linear_forward(w.linear(proj_w_, proj_b_, nd, h), call.at_saved(attn_), y, T, call.linear);
}

void SelfAttention::backward(const BlockCall& call, const float* x, const float* dy, float* dx) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden, d = head_dim_, qkv = qkv_width(), nd = q_width(),
                     gd = kv_width();
  float* a_qkv = call.at_saved(qkv_);
  float* d_attn = call.at_scratch(d_attn_);
  linear_backward(w.linear(proj_w_, proj_b_, nd, h), dy, call.at_saved(attn_), d_attn, T, call.linear);
  float* dqkv = call.at_scratch(d_qkv_);  // [T, qkv]
  kernels::attention_backward(attention_shape(call.batch, call.seq, heads_, groups_, d), a_qkv, a_qkv + nd,
                              a_qkv + nd + gd, call.at_saved(attn_), call.at_saved(lse_), d_attn, dqkv, dqkv + nd,
                              dqkv + nd + gd, call.at_scratch(attn_ws_), attn_ws_floats_);
  kernels::rope_backward(dqkv, rope_table_, call.batch, call.seq, heads_, qkv, c.rope, call.seq);
  kernels::rope_backward(dqkv + nd, rope_table_, call.batch, call.seq, groups_, qkv, c.rope, call.seq);
  if (c.qk_layernorm) {
    float* tmp = call.at_scratch(qk_tmp_);
    float* ws = call.at_scratch(norm_ws_);
    gather_columns(dqkv, qkv, 0, nd, tmp, T);
    norm_backward(c.norm, NormParams{w.p(q_norm_w_), w.p(q_norm_b_), w.g(q_norm_w_), w.g(q_norm_b_)}, tmp,
                  call.at_saved(q_raw_), call.at_saved(q_mean_), call.at_saved(q_rstd_), tmp, T * heads_, d, ws);
    scatter_columns(tmp, nd, dqkv, qkv, 0, T);
    gather_columns(dqkv, qkv, nd, gd, tmp, T);
    norm_backward(c.norm, NormParams{w.p(k_norm_w_), w.p(k_norm_b_), w.g(k_norm_w_), w.g(k_norm_b_)}, tmp,
                  call.at_saved(k_raw_), call.at_saved(k_mean_), call.at_saved(k_rstd_), tmp, T * groups_, d, ws);
    scatter_columns(tmp, gd, dqkv, qkv, nd, T);
  }
  linear_backward(w.linear(qkv_w_, qkv_b_, h, qkv), dqkv, x, dx, T, call.linear);
}

}  // namespace primus::model
