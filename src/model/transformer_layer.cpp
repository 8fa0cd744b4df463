#include "model/transformer_layer.hpp"

#include <cstring>

#include "kernels/activation.hpp"
#include "kernels/attention.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/rope.hpp"
#include "model/norm.hpp"

namespace primus::model {

namespace {

const float* at(const float* base, std::int64_t off) { return off < 0 ? nullptr : base + off; }
float* at(float* base, std::int64_t off) { return off < 0 ? nullptr : base + off; }
const bf16* at(const bf16* base, std::int64_t off) { return (off < 0 || !base) ? nullptr : base + off; }

LinearWeights linear(const LayerParams& p, std::int64_t w, std::int64_t b, std::int64_t in, std::int64_t out) {
  return LinearWeights{at(p.params, w), at(p.params_bf16, w), at(p.params, b), at(p.grads, w), at(p.grads, b), in, out};
}

NormParams norm_params(const LayerParams& p, std::int64_t w, std::int64_t b) {
  return NormParams{at(p.params, w), at(p.params, b), at(p.grads, w), at(p.grads, b)};
}

// Copies `width` columns starting at `col` of every row of src [rows, ld] into dst [rows, width] (or back).
void gather_columns(const float* src, std::int64_t ld, std::int64_t col, std::int64_t width, float* dst,
                    std::int64_t rows) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * width, src + r * ld + col, static_cast<size_t>(width) * sizeof(float));
}
void scatter_columns(const float* src, std::int64_t width, float* dst, std::int64_t ld, std::int64_t col,
                     std::int64_t rows) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * ld + col, src + r * width, static_cast<size_t>(width) * sizeof(float));
}

kernels::AttentionShape attention_shape(const ModelConfig& c, const LayerShape& shape) {
  kernels::AttentionShape a;
  a.batch = shape.batch;
  a.seq = shape.seq;
  a.heads = c.heads;
  a.groups = c.groups;
  a.head_dim = c.head_dim;
  a.ld_q = a.ld_kv = c.qkv_width();
  a.ld_o = c.q_width();
  return a;
}

}  // namespace

void layer_forward(const ModelConfig& c, const LayerParams& p, const LayerShape& shape, const float* x, float* y,
                   LayerActivations& a, const LayerScratch& s) {
  const LayerOffsets& o = *p.off;
  const std::int64_t T = shape.tokens(), h = c.hidden, qkv = c.qkv_width(), nd = c.q_width(), gd = c.kv_width();

  // Attention block.
  norm_forward(c.norm, c.norm_eps, norm_params(p, o.ln1_w, o.ln1_b), x, a.ln1_out, a.ln1_mean, a.ln1_rstd, T, h);
  linear_forward(linear(p, o.qkv_w, o.qkv_b, h, qkv), a.ln1_out, a.qkv, T, s.linear);
  if (c.qk_layernorm) {
    // Norm over head_dim of each query head / key group, before rope (Megatron-Core's q/k_layernorm).
    gather_columns(a.qkv, qkv, 0, nd, a.q_raw, T);
    gather_columns(a.qkv, qkv, nd, gd, a.k_raw, T);
    norm_forward(c.norm, c.norm_eps, norm_params(p, o.q_norm_w, o.q_norm_b), a.q_raw, s.qk_tmp, a.q_mean, a.q_rstd,
                 T * c.heads, c.head_dim);
    scatter_columns(s.qk_tmp, nd, a.qkv, qkv, 0, T);
    norm_forward(c.norm, c.norm_eps, norm_params(p, o.k_norm_w, o.k_norm_b), a.k_raw, s.qk_tmp, a.k_mean, a.k_rstd,
                 T * c.groups, c.head_dim);
    scatter_columns(s.qk_tmp, gd, a.qkv, qkv, nd, T);
  }
  kernels::rope_forward(a.qkv, s.rope_table, shape.batch, shape.seq, c.heads, qkv, c.rope, shape.seq);
  kernels::rope_forward(a.qkv + nd, s.rope_table, shape.batch, shape.seq, c.groups, qkv, c.rope, shape.seq);
  kernels::attention_forward(attention_shape(c, shape), a.qkv, a.qkv + nd, a.qkv + nd + gd, a.attn, a.lse, s.attn_ws,
                             s.attn_ws_floats);
  linear_forward(linear(p, o.proj_w, o.proj_b, nd, h), a.attn, s.tmp_h, T, s.linear);
  kernels::add(x, s.tmp_h, a.x_mid, T * h);

  // MLP block.
  norm_forward(c.norm, c.norm_eps, norm_params(p, o.ln2_w, o.ln2_b), a.x_mid, a.ln2_out, a.ln2_mean, a.ln2_rstd, T, h);
  linear_forward(linear(p, o.fc1_w, o.fc1_b, h, c.fc1_width()), a.ln2_out, a.fc1, T, s.linear);
  if (c.swiglu) kernels::swiglu_forward(a.fc1, a.act, T, c.ffn);
  else kernels::gelu_forward(a.fc1, a.act, T * c.ffn);
  linear_forward(linear(p, o.fc2_w, o.fc2_b, c.ffn, h), a.act, s.tmp_h, T, s.linear);
  kernels::add(a.x_mid, s.tmp_h, y, T * h);
}

void layer_backward(const ModelConfig& c, const LayerParams& p, const LayerShape& shape, const float* x,
                    float* dy_dx, LayerActivations& a, const LayerScratch& s) {
  const LayerOffsets& o = *p.off;
  const std::int64_t T = shape.tokens(), h = c.hidden, qkv = c.qkv_width(), nd = c.q_width(), gd = c.kv_width();
  float* dres = dy_dx;  // gradient of the residual stream, updated in place

  // MLP block: dres holds dy = d x_mid (residual) + the MLP branch's contribution below.
  linear_backward(linear(p, o.fc2_w, o.fc2_b, c.ffn, h), dres, a.act, s.d_mid, T, s.linear);
  if (c.swiglu) kernels::swiglu_backward(s.d_mid, a.fc1, s.d_big, T, c.ffn);
  else kernels::gelu_backward(s.d_mid, a.fc1, s.d_big, T * c.ffn);
  linear_backward(linear(p, o.fc1_w, o.fc1_b, h, c.fc1_width()), s.d_big, a.ln2_out, s.tmp_h, T, s.linear);
  norm_backward(c.norm, norm_params(p, o.ln2_w, o.ln2_b), s.tmp_h, a.x_mid, a.ln2_mean, a.ln2_rstd, s.tmp_h, T, h,
                s.norm_ws);
  kernels::add(dres, s.tmp_h, dres, T * h);

  // Attention block: dres = d x_mid.
  linear_backward(linear(p, o.proj_w, o.proj_b, nd, h), dres, a.attn, s.d_mid, T, s.linear);
  float* dqkv = s.d_big;  // [T, qkv]
  kernels::attention_backward(attention_shape(c, shape), a.qkv, a.qkv + nd, a.qkv + nd + gd, a.attn, a.lse, s.d_mid,
                              dqkv, dqkv + nd, dqkv + nd + gd, s.attn_ws, s.attn_ws_floats);
  kernels::rope_backward(dqkv, s.rope_table, shape.batch, shape.seq, c.heads, qkv, c.rope, shape.seq);
  kernels::rope_backward(dqkv + nd, s.rope_table, shape.batch, shape.seq, c.groups, qkv, c.rope, shape.seq);
  if (c.qk_layernorm) {
    gather_columns(dqkv, qkv, 0, nd, s.qk_tmp, T);
    norm_backward(c.norm, norm_params(p, o.q_norm_w, o.q_norm_b), s.qk_tmp, a.q_raw, a.q_mean, a.q_rstd, s.qk_tmp,
                  T * c.heads, c.head_dim, s.norm_ws);
    scatter_columns(s.qk_tmp, nd, dqkv, qkv, 0, T);
    gather_columns(dqkv, qkv, nd, gd, s.qk_tmp, T);
    norm_backward(c.norm, norm_params(p, o.k_norm_w, o.k_norm_b), s.qk_tmp, a.k_raw, a.k_mean, a.k_rstd, s.qk_tmp,
                  T * c.groups, c.head_dim, s.norm_ws);
    scatter_columns(s.qk_tmp, gd, dqkv, qkv, nd, T);
  }
  linear_backward(linear(p, o.qkv_w, o.qkv_b, h, qkv), dqkv, a.ln1_out, s.tmp_h, T, s.linear);
  norm_backward(c.norm, norm_params(p, o.ln1_w, o.ln1_b), s.tmp_h, x, a.ln1_mean, a.ln1_rstd, s.tmp_h, T, h,
                s.norm_ws);
  kernels::add(dres, s.tmp_h, dres, T * h);
}

}  // namespace primus::model
