#include "model/multi_latent_attention.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/rope.hpp"
#include "model/columns.hpp"
#include "model/norm.hpp"

namespace primus::model {

namespace {

kernels::AttentionShape attention_shape(const MlaConfig& m, std::int64_t batch, std::int64_t seq, std::int64_t heads) {
  kernels::AttentionShape a;
  a.batch = batch;
  a.seq = seq;
  a.heads = a.groups = heads;
  a.head_dim = m.q_head_dim();
  a.v_head_dim = m.v_head_dim;
  a.softmax_scale = m.softmax_scale;
  return a;
}

}  // namespace

MultiLatentAttention::MultiLatentAttention(const BuildContext& ctx, const std::string& prefix, float output_init_std,
                                           BufferPlan& saved)
    : c_(ctx.config), m_(ctx.config.mla), mp_(ctx.parallel), io_(ctx, ctx.config.hidden, scratch_) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  // Tensor parallelism splits the heads (q/kv up-projections column-parallel, the output
  // projection row-parallel); the down-projections and the latents' norms are replicated.
  const std::int64_t t = ctx.parallel.tp_size(), r = ctx.parallel.tp_rank();
  if (c.heads % t != 0)
    fail("num_attention_heads {} is not divisible by tensor_model_parallel_size {}", c.heads, t);
  n_ = c.heads / t;
  if (c.linear_bias) fail("add_bias_linear is not supported with multi_latent_attention by this engine");
  const bool ln = c.norm == Norm::LayerNorm, norms = c.qk_layernorm;
  const std::int64_t h = c.hidden, T = ctx.tokens(), qr = m.q_lora_rank, kr = m.kv_lora_rank, dr = m.qk_pos_emb_head_dim;
  ParameterLayout& L = ctx.layout;
  // split_rows / split_cols: the global tensor's rows (columns) this rank holds, per head.
  auto linear = [&](const char* name, std::int64_t out, std::int64_t in, float std, std::int64_t split_rows,
                    std::int64_t split_cols) {
    ParamSpec spec{.name = prefix + name, .global_rows = out, .global_cols = in, .init_std = std};
    if (split_rows) {
      spec.shard.rows.push_back(RowRange{r * split_rows, split_rows});
      spec.tensor_parallel = true;
    }
    if (split_cols) {
      spec.shard.col_begin = r * split_cols;
      spec.local_cols = split_cols;
      spec.tensor_parallel = true;
    }
    ctx.linear.need(T, split_cols ? split_cols : in, split_rows ? split_rows : out);
    return L.add(std::move(spec));
  };
  auto norm = [&](const char* name, std::int64_t width, bool bias) {
    if (!norms || (bias && !ln)) return kNoParam;
    return L.add({.name = prefix + name + std::string(bias ? ".bias" : ".weight"), .global_rows = width, .decay = false,
                  .init_value = bias ? 0.0f : 1.0f});
  };
  q_w_ = q_down_w_ = q_up_w_ = kNoParam;
  if (qr == 0) {
    q_w_ = linear("linear_q_proj.weight", c.heads * dq(), h, c.init_std, n_ * dq(), 0);
  } else {
    q_down_w_ = linear("linear_q_down_proj.weight", qr, h, c.init_std, 0, 0);
    q_up_w_ = linear("linear_q_up_proj.weight", c.heads * dq(), qr, c.init_std, n_ * dq(), 0);
  }
  q_norm_w_ = qr ? norm("q_layernorm", qr, false) : kNoParam;
  q_norm_b_ = qr ? norm("q_layernorm", qr, true) : kNoParam;
  kv_down_w_ = linear("linear_kv_down_proj.weight", kr + dr, h, c.init_std, 0, 0);
  kv_norm_w_ = norm("kv_layernorm", kr, false);
  kv_norm_b_ = norm("kv_layernorm", kr, true);
  kv_up_w_ = linear("linear_kv_up_proj.weight", c.heads * (m.qk_head_dim + m.v_head_dim), kr, c.init_std,
                    kv_up_width(), 0);
  proj_w_ = linear("linear_proj.weight", h, c.heads * m.v_head_dim, output_init_std, 0, n_ * m.v_head_dim);
  // Megatron declares q_layernorm before linear_q_up_proj; the order only decides offsets.

  rope_q_ = m.rope;
  rope_q_.head_dim = dq();  // rotate channels [d_nope, d_q) of each head: pointer offset d_nope
  rope_k_ = m.rope;         // k_rope: one head of d_rope channels
  positions_ = ctx.positions;
  rope_seq_ = ctx.global_seq ? ctx.global_seq : ctx.seq;
  table_q_ = ctx.rope_tables.get(rope_q_, rope_seq_);
  table_k_ = ctx.rope_tables.get(rope_k_, rope_seq_);

  const std::int64_t lq = qr ? 1 : 0, has_norm = norms ? 1 : 0;
  q_c_ = saved.add(lq * T * qr);
  q_n_ = saved.add(lq * has_norm * T * qr);
  q_mean_ = saved.add(lq * has_norm * (ln ? T : 0));
  q_rstd_ = saved.add(lq * has_norm * T);
  kv_c_ = saved.add(T * (kr + dr));
  c_n_ = saved.add(T * kr);
  c_mean_ = saved.add(has_norm * (ln ? T : 0));
  c_rstd_ = saved.add(has_norm * T);
  q_ = saved.add(T * n_ * dq());
  k_ = saved.add(T * n_ * dq());
  v_ = saved.add(T * n_ * m.v_head_dim);
  attn_ = saved.add(T * n_ * m.v_head_dim);
  lse_ = saved.add(ctx.batch * n_ * ctx.seq);

  kv_ = scratch_.add(T * kv_up_width());
  d_attn_ = scratch_.add(T * n_ * m.v_head_dim);
  d_q_ = scratch_.add(T * n_ * dq());
  d_k_ = scratch_.add(T * n_ * dq());
  d_v_ = scratch_.add(T * n_ * m.v_head_dim);
  d_kv_ = scratch_.add(T * kv_up_width());
  d_lora_ = scratch_.add(T * std::max(qr, kr));
  d_kv_c_ = scratch_.add(T * (kr + dr));
  dx_tmp_ = scratch_.add(T * h);
  c_tmp_ = scratch_.add(T * kr);
  norm_ws_ = scratch_.add(norm_workspace(std::max({qr, kr, std::int64_t{1}})));
  attention_ = std::make_unique<ContextParallelAttention>(attention_shape(m, ctx.batch, ctx.seq, n_), ctx.parallel,
                                                          scratch_);
}

float* MultiLatentAttention::project_q(const BlockCall& call, const float* x) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden, qr = m.q_lora_rank, DQ = dq();
  float* q = call.at_saved(q_);
  if (qr == 0) {
    linear_forward(w.linear(q_w_, kNoParam, h, n_ * DQ), x, q, T, call.linear);
  } else {
    float* qc = call.at_saved(q_c_);
    linear_forward(w.linear(q_down_w_, kNoParam, h, qr), x, qc, T, call.linear);
    const float* qn = qc;
    if (c.qk_layernorm) {
      norm_forward(c.norm, c.norm_eps, NormParams{w.p(q_norm_w_), w.p(q_norm_b_), nullptr, nullptr}, qc,
                   call.at_saved(q_n_), call.at_saved(q_mean_), call.at_saved(q_rstd_), T, qr);
      qn = call.at_saved(q_n_);
    }
    linear_forward(w.linear(q_up_w_, kNoParam, qr, n_ * DQ), qn, q, T, call.linear);
  }
  return q;
}

float* MultiLatentAttention::project_kv(const BlockCall& call, const float* x) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden, kr = m.kv_lora_rank, dr = m.qk_pos_emb_head_dim;
  float* kvc = call.at_saved(kv_c_);
  linear_forward(w.linear(kv_down_w_, kNoParam, h, kr + dr), x, kvc, T, call.linear);
  float* cn = call.at_saved(c_n_);
  gather_columns(kvc, kr + dr, 0, kr, cn, T);
  if (c.qk_layernorm) {
    float* ctmp = call.at_scratch(c_tmp_);
    std::memcpy(ctmp, cn, static_cast<size_t>(T * kr) * sizeof(float));
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(kv_norm_w_), w.p(kv_norm_b_), nullptr, nullptr}, ctmp, cn,
                 call.at_saved(c_mean_), call.at_saved(c_rstd_), T, kr);
  }
  float* kv = call.at_scratch(kv_);
  linear_forward(w.linear(kv_up_w_, kNoParam, kr, kv_up_width()), cn, kv, T, call.linear);
  return kv;
}

void MultiLatentAttention::forward(const BlockCall& call, const float* x_local, float* y_local) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  const StageWeights& w = call.w;
  const float* x = io_.gather(call, x_local);
  const std::int64_t T = call.tokens(), h = c.hidden, kr = m.kv_lora_rank, dr = m.qk_pos_emb_head_dim,
                     dn = m.qk_head_dim, dv = m.v_head_dim, DQ = dq();
  // Queries.
  float* q = project_q(call, x);
  kernels::rope_forward(q + dn, table_q_, call.batch, call.seq, n_, n_ * DQ, rope_q_, rope_seq_, positions_);
  // Keys and values from the compressed latent.
  float* kv = project_kv(call, x);
  float* kvc = call.at_saved(kv_c_);
  // k_rope (shared by all heads) rotated in place inside kv_c.
  kernels::rope_forward(kvc + kr, table_k_, call.batch, call.seq, 1, kr + dr, rope_k_, rope_seq_, positions_);
  float* k = call.at_saved(k_);
  float* v = call.at_saved(v_);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t hd = 0; hd < n_; ++hd) {
      const float* src = kv + t * kv_up_width() + hd * (dn + dv);
      float* kh = k + (t * n_ + hd) * DQ;
      std::memcpy(kh, src, static_cast<size_t>(dn) * sizeof(float));
      std::memcpy(kh + dn, kvc + t * (kr + dr) + kr, static_cast<size_t>(dr) * sizeof(float));
      std::memcpy(v + (t * n_ + hd) * dv, src + dn, static_cast<size_t>(dv) * sizeof(float));
    }
  attention_->forward(call, q, k, v, call.at_saved(attn_), call.at_saved(lse_));
  float* y = io_.partial_buffer(call, y_local);
  linear_forward(w.linear(proj_w_, kNoParam, n_ * dv, h), call.at_saved(attn_), y, T, call.linear);
  io_.reduce(call, y, y_local);
}

void MultiLatentAttention::backward(const BlockCall& call, const float* x_local, const float* dy_local,
                                   float* dx_local) {
  const ModelConfig& c = c_;
  const MlaConfig& m = m_;
  const StageWeights& w = call.w;
  const float* dy = io_.gather(call, dy_local, 1);
  const std::int64_t T = call.tokens(), h = c.hidden, qr = m.q_lora_rank, kr = m.kv_lora_rank,
                     dr = m.qk_pos_emb_head_dim, dn = m.qk_head_dim, dv = m.v_head_dim, DQ = dq();
  float* d_attn = call.at_scratch(d_attn_);
  linear_backward(w.linear(proj_w_, kNoParam, n_ * dv, h), dy, call.at_saved(attn_), d_attn, T, call.linear);
  float* d_q = call.at_scratch(d_q_);
  float* d_k = call.at_scratch(d_k_);
  float* d_v = call.at_scratch(d_v_);
  attention_->backward(call, call.at_saved(q_), call.at_saved(k_), call.at_saved(v_), call.at_saved(attn_),
                       call.at_saved(lse_), d_attn, d_q, d_k, d_v);
  // Query path -> dx.
  const float* x = io_.gather(call, x_local);
  float* dx = io_.partial_buffer(call, dx_local);
  parallel::Communicator& tp = mp_.tp_group();
  kernels::rope_backward(d_q + dn, table_q_, call.batch, call.seq, n_, n_ * DQ, rope_q_, rope_seq_, positions_);
  float* ws = call.at_scratch(norm_ws_);
  if (qr == 0) {
    linear_backward(w.linear(q_w_, kNoParam, h, n_ * DQ), d_q, x, dx, T, call.linear);
    if (tp.size() > 1) tp.allreduce(dx, T * h);  // column-parallel input
  } else {
    float* d_lora = call.at_scratch(d_lora_);
    const float* qn = c.qk_layernorm ? call.at_saved(q_n_) : call.at_saved(q_c_);
    linear_backward(w.linear(q_up_w_, kNoParam, qr, n_ * DQ), d_q, qn, d_lora, T, call.linear);
    if (tp.size() > 1) tp.allreduce(d_lora, T * qr);  // this rank's heads only: sum before the replicated part
    if (c.qk_layernorm)
      norm_backward(c.norm, NormParams{w.p(q_norm_w_), w.p(q_norm_b_), w.g(q_norm_w_), w.g(q_norm_b_)}, d_lora,
                    call.at_saved(q_c_), call.at_saved(q_mean_), call.at_saved(q_rstd_), d_lora, T, qr, ws);
    linear_backward(w.linear(q_down_w_, kNoParam, h, qr), d_lora, x, dx, T, call.linear);
  }
  // Key/value path: dkv per head [dk_nope | dv]; dk_rope summed over heads.
  float* d_kv = call.at_scratch(d_kv_);
  float* d_kvc = call.at_scratch(d_kv_c_);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < T; ++t) {
    float* dk_rope = d_kvc + t * (kr + dr) + kr;
    std::fill(dk_rope, dk_rope + dr, 0.0f);
    for (std::int64_t hd = 0; hd < n_; ++hd) {
      float* dst = d_kv + t * kv_up_width() + hd * (dn + dv);
      const float* dkh = d_k + (t * n_ + hd) * DQ;
      std::memcpy(dst, dkh, static_cast<size_t>(dn) * sizeof(float));
      std::memcpy(dst + dn, d_v + (t * n_ + hd) * dv, static_cast<size_t>(dv) * sizeof(float));
      for (std::int64_t i = 0; i < dr; ++i) dk_rope[i] += dkh[dn + i];
    }
  }
  float* d_c = call.at_scratch(d_lora_);
  linear_backward(w.linear(kv_up_w_, kNoParam, kr, kv_up_width()), d_kv, call.at_saved(c_n_), d_c, T, call.linear);
  if (tp.size() > 1) {  // this rank's heads only: sum the latent's and the shared k_rope's gradients
    scatter_columns(d_c, kr, d_kvc, kr + dr, 0, T);
    tp.allreduce(d_kvc, T * (kr + dr));
    gather_columns(d_kvc, kr + dr, 0, kr, d_c, T);
  }
  kernels::rope_backward(d_kvc + kr, table_k_, call.batch, call.seq, 1, kr + dr, rope_k_, rope_seq_, positions_);
  if (c.qk_layernorm) {
    float* ctmp = call.at_scratch(c_tmp_);
    gather_columns(call.at_saved(kv_c_), kr + dr, 0, kr, ctmp, T);  // the latent before its norm
    norm_backward(c.norm, NormParams{w.p(kv_norm_w_), w.p(kv_norm_b_), w.g(kv_norm_w_), w.g(kv_norm_b_)}, d_c, ctmp,
                  call.at_saved(c_mean_), call.at_saved(c_rstd_), d_c, T, kr, ws);
  }
  scatter_columns(d_c, kr, d_kvc, kr + dr, 0, T);
  float* dx_kv = call.at_scratch(dx_tmp_);
  linear_backward(w.linear(kv_down_w_, kNoParam, h, kr + dr), d_kvc, x, dx_kv, T, call.linear);
  kernels::add(dx, dx_kv, dx, T * h);
  io_.reduce(call, dx, dx_local, /*complete=*/true);
}

}  // namespace primus::model
