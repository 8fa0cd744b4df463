// DeepSeek's multi-latent attention (Megatron-Core's MLASelfAttention) as a block. n heads,
// d_nope = qk_head_dim, d_rope = qk_pos_emb_head_dim, d_q = d_nope + d_rope, d_v = v_head_dim:
//
//   q      = linear_q_proj(x)                                    q_lora_rank unset (V2-Lite)
//          | linear_q_up_proj(q_layernorm(linear_q_down_proj(x)))   [T, n·d_q], per head [nope | rope]
//   kv_c   = linear_kv_down_proj(x)                              [T, kv_lora + d_rope] = [c | k_rope]
//   kv     = linear_kv_up_proj(kv_layernorm(c))                  [T, n·(d_nope + d_v)], per head [k_nope | v]
//   q_rope, k_rope = rope(q_rope), rope(k_rope)                  YaRN or plain; k_rope shared by all heads
//   k      = [k_nope | k_rope] per head
//   a      = causal_attention(q, k, v, scale = mscale² / sqrt(d_q))
//   y      = linear_proj(a)                                      [T, h]
// The LoRA norms exist with qk_layernorm (as in Megatron-Core's spec); without it they are identity.
#pragma once

#include <memory>
#include <string>

#include "model/block.hpp"
#include "model/context_parallel_attention.hpp"
#include "model/tensor_parallel_io.hpp"

namespace primus::model {

class MultiLatentAttention final : public AttentionBlock {
 public:
  // prefix: "decoder.layers.{i}.self_attention."
  MultiLatentAttention(const BuildContext& ctx, const std::string& prefix, float output_init_std, BufferPlan& saved);

  std::int64_t scratch_floats() const override { return scratch_.total(); }
  void forward(const BlockCall& call, const float* x, float* y) override;
  void backward(const BlockCall& call, const float* x, const float* dy, float* dx) override;
  KvWidths kv_widths() const override { return {n_ * dq(), n_ * m_.v_head_dim}; }
  void decode(const BlockCall& call, const float* x, float* y, KvCache& cache, KvCache::Layer& layer) override;

 private:
  // q [T, n·d_q] (before rope) into the saved q; returns it.
  float* project_q(const BlockCall& call, const float* x);
  // The latent kv_c [T, kv_lora + d_rope] (saved; k_rope not yet rotated) and kv [T, n·(d_nope + d_v)]
  // (scratch, returned).
  float* project_kv(const BlockCall& call, const float* x);

  const ModelConfig& c_;
  const MlaConfig& m_;
  const ModelParallel& mp_;
  std::int64_t n_;  // heads on this rank
  kernels::RopeConfig rope_q_, rope_k_;
  const float* table_q_;
  const float* table_k_;
  const std::int32_t* positions_;  // context parallelism: global positions of the local tokens
  std::int64_t rope_seq_;
  ParamId q_w_, q_down_w_, q_norm_w_, q_norm_b_, q_up_w_, kv_down_w_, kv_norm_w_, kv_norm_b_, kv_up_w_, proj_w_;
  // saved
  std::int64_t q_c_, q_n_, q_mean_, q_rstd_, kv_c_, c_n_, c_mean_, c_rstd_, q_, k_, v_, attn_, lse_;
  // scratch
  BufferPlan scratch_;
  std::int64_t kv_, d_attn_, d_q_, d_k_, d_v_, d_kv_, d_lora_, d_kv_c_, dx_tmp_, c_tmp_, norm_ws_;
  std::unique_ptr<ContextParallelAttention> attention_;
  TensorParallelIo io_;

  std::int64_t dq() const { return m_.q_head_dim(); }
  std::int64_t kv_up_width() const { return n_ * (m_.qk_head_dim + m_.v_head_dim); }
};

}  // namespace primus::model
