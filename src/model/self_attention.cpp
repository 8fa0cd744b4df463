#include "model/self_attention.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "kernels/bias.hpp"
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
    : c_(ctx.config), mp_(ctx.parallel), head_dim_(ctx.config.head_dim), io_(ctx, ctx.config.hidden, scratch_) {
  const ModelConfig& c = c_;
  const bool ln = c.norm == Norm::LayerNorm;
  // Tensor parallelism: each rank holds heads / t query heads and groups / t key/value groups
  // (column-parallel QKV), and the matching columns of the row-parallel output projection.
  const std::int64_t t = ctx.parallel.tp_size(), r = ctx.parallel.tp_rank();
  if (c.heads % t != 0 || c.groups % t != 0)
    fail("num_attention_heads {} and num_query_groups {} must be divisible by tensor_model_parallel_size {} "
         "(fewer query groups than tensor-parallel ranks is not supported by this engine)",
         c.heads, c.groups, t);
  heads_ = c.heads / t;
  groups_ = c.groups / t;
  const std::int64_t h = c.hidden, d = head_dim_, global_qkv = (c.heads + 2 * c.groups) * d;
  ParameterLayout& L = ctx.layout;
  Shard rows = qkv_shard(c.heads, c.groups, d, r * groups_, groups_);
  qkv_w_ = L.add({.name = prefix + "linear_qkv.weight", .global_rows = global_qkv, .global_cols = h, .init_std = c.init_std,
                  .shard = rows, .tensor_parallel = true});
  qkv_b_ = c.qkv_bias ? L.add({.name = prefix + "linear_qkv.bias", .global_rows = global_qkv, .decay = false, .shard = rows,
                               .tensor_parallel = true})
                      : kNoParam;
  q_norm_w_ = q_norm_b_ = k_norm_w_ = k_norm_b_ = kNoParam;
  if (c.qk_layernorm) {
    // Shared by all heads; each rank sees only its heads, so its gradient is a partial sum.
    const bool split = t > 1;
    q_norm_w_ = L.add({.name = prefix + "q_layernorm.weight", .global_rows = d, .decay = false, .init_value = 1.0f,
                       .sum_grad_over_tp = split});
    if (ln) q_norm_b_ = L.add({.name = prefix + "q_layernorm.bias", .global_rows = d, .decay = false, .sum_grad_over_tp = split});
    k_norm_w_ = L.add({.name = prefix + "k_layernorm.weight", .global_rows = d, .decay = false, .init_value = 1.0f,
                       .sum_grad_over_tp = split});
    if (ln) k_norm_b_ = L.add({.name = prefix + "k_layernorm.bias", .global_rows = d, .decay = false, .sum_grad_over_tp = split});
  }
  proj_w_ = L.add({.name = prefix + "linear_proj.weight", .global_rows = h, .global_cols = c.heads * d,
                   .init_std = output_init_std, .shard = Shard{{}, r * heads_ * d}, .local_cols = heads_ * d,
                   .tensor_parallel = true});
  // The row-parallel bias is added once, after the reduction (by the layer).
  proj_b_ = c.linear_bias ? L.add({.name = prefix + "linear_proj.bias", .global_rows = h, .decay = false,
                                   .sum_grad_over_tp = ctx.parallel.sequence_parallel})
                          : kNoParam;

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

  d_attn_ = scratch_.add(T * q_width());
  d_qkv_ = scratch_.add(T * qkv_width());
  qk_tmp_ = scratch_.add(qk * T * q_width());
  norm_ws_ = scratch_.add(norm_workspace(d));
  attention_ = std::make_unique<ContextParallelAttention>(attention_shape(ctx.batch, ctx.seq, heads_, groups_, d),
                                                          ctx.parallel, scratch_);
  positions_ = ctx.positions;
  rope_seq_ = ctx.global_seq ? ctx.global_seq : ctx.seq;
  rope_table_ = ctx.rope_tables.get(c.rope, rope_seq_);
}

void SelfAttention::forward(const BlockCall& call, const float* x_local, float* y_local) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const float* x = io_.gather(call, x_local);
  const std::int64_t T = call.tokens(), h = c.hidden, qkv = qkv_width(), nd = q_width(),
                     gd = kv_width();
  float* a_qkv = call.at_saved(qkv_);
  linear_forward(w.linear(qkv_w_, qkv_b_, h, qkv), x, a_qkv, T, call.linear);
  normalize_qk(call, a_qkv, T);
  kernels::rope_forward(a_qkv, rope_table_, call.batch, call.seq, heads_, qkv, c.rope, rope_seq_, positions_);
  kernels::rope_forward(a_qkv + nd, rope_table_, call.batch, call.seq, groups_, qkv, c.rope, rope_seq_, positions_);
  attention_->forward(call, a_qkv, a_qkv + nd, a_qkv + nd + gd, call.at_saved(attn_), call.at_saved(lse_));
  // Row-parallel output projection: the partial sums are reduced, then the bias added once.
  float* y = io_.partial_buffer(call, y_local);
  linear_forward(w.linear(proj_w_, kNoParam, nd, h), call.at_saved(attn_), y, T, call.linear);
  io_.reduce(call, y, y_local);
  if (proj_b_ != kNoParam) kernels::bias_add_forward(y_local, w.p(proj_b_), T / mp_.sp(), h);
}

void SelfAttention::normalize_qk(const BlockCall& call, float* a_qkv, std::int64_t T) {
  const ModelConfig& c = c_;
  if (!c.qk_layernorm) return;
  const StageWeights& w = call.w;
  const std::int64_t d = head_dim_, qkv = qkv_width(), nd = q_width(), gd = kv_width();
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

void SelfAttention::backward(const BlockCall& call, const float* x_local, const float* dy_local, float* dx_local) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden, d = head_dim_, qkv = qkv_width(), nd = q_width(),
                     gd = kv_width();
  float* a_qkv = call.at_saved(qkv_);
  if (proj_b_ != kNoParam) kernels::bias_backward(dy_local, w.g(proj_b_), T / mp_.sp(), h, call.linear.bias_ws);
  const float* dy = io_.gather(call, dy_local, 1);
  float* d_attn = call.at_scratch(d_attn_);
  linear_backward(w.linear(proj_w_, kNoParam, nd, h), dy, call.at_saved(attn_), d_attn, T, call.linear);
  float* dqkv = call.at_scratch(d_qkv_);  // [T, qkv]
  attention_->backward(call, a_qkv, a_qkv + nd, a_qkv + nd + gd, call.at_saved(attn_), call.at_saved(lse_), d_attn, dqkv,
                       dqkv + nd, dqkv + nd + gd);
  kernels::rope_backward(dqkv, rope_table_, call.batch, call.seq, heads_, qkv, c.rope, rope_seq_, positions_);
  kernels::rope_backward(dqkv + nd, rope_table_, call.batch, call.seq, groups_, qkv, c.rope, rope_seq_, positions_);
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
  // Column-parallel input: this rank's part of dx, summed over the group.
  const float* x = io_.gather(call, x_local);
  float* dx = io_.partial_buffer(call, dx_local);
  linear_backward(w.linear(qkv_w_, qkv_b_, h, qkv), dqkv, x, dx, T, call.linear);
  io_.reduce(call, dx, dx_local);
}

}  // namespace primus::model
