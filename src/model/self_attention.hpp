// Megatron-Core's SelfAttention (GQA / MHA / MQA) as a block:
//
//   qkv = linear_qkv(x)                    [T, (n + 2g)·d] stored as [q heads | k groups | v groups]
//   q, k = q/k_layernorm(q, k)             per head over d (qk_layernorm only), before rope
//   q, k = rope(q), rope(k)
//   a    = causal_attention(q, k, v)       [T, n·d] (a ring over the context-parallel group)
//   y    = linear_proj(a)                  [T, h]
//
// The fused QKV weight's global tensor is Megatron's (rows interleaved per query group); this
// block holds it as [q; k; v] through its Shard (see parameter_layout.hpp), so one GEMM yields q,
// k and v at fixed column offsets.
#pragma once

#include <memory>
#include <string>

#include "model/block.hpp"
#include "model/context_parallel_attention.hpp"
#include "model/tensor_parallel_io.hpp"

namespace primus::model {

class SelfAttention final : public AttentionBlock {
 public:
  // prefix: "decoder.layers.{i}.self_attention."
  SelfAttention(const BuildContext& ctx, const std::string& prefix, float output_init_std, BufferPlan& saved);

  std::int64_t scratch_floats() const override { return scratch_.total(); }
  void forward(const BlockCall& call, const float* x, float* y) override;
  void backward(const BlockCall& call, const float* x, const float* dy, float* dx) override;
  KvWidths kv_widths() const override { return {kv_width(), kv_width()}; }
  void decode(const BlockCall& call, const float* x, float* y, KvCache& cache, KvCache::Layer& layer) override;

 private:
  // q_layernorm / k_layernorm over each head of the fused qkv [T, qkv] (qk_layernorm only).
  void normalize_qk(const BlockCall& call, float* a_qkv, std::int64_t T);

  const ModelConfig& c_;
  const ModelParallel& mp_;
  std::int64_t heads_, groups_, head_dim_;  // on this rank
  const float* rope_table_;
  const std::int32_t* positions_;  // context parallelism: global positions of the local tokens
  std::int64_t rope_seq_;
  ParamId qkv_w_, qkv_b_, q_norm_w_, q_norm_b_, k_norm_w_, k_norm_b_, proj_w_, proj_b_;
  // Saved activations (offsets in the layer's set).
  std::int64_t qkv_, q_raw_, k_raw_, q_mean_, q_rstd_, k_mean_, k_rstd_, attn_, lse_;
  // Scratch.
  BufferPlan scratch_;
  std::int64_t d_attn_, d_qkv_, qk_tmp_, norm_ws_;
  std::unique_ptr<ContextParallelAttention> attention_;
  TensorParallelIo io_;

  std::int64_t q_width() const { return heads_ * head_dim_; }
  std::int64_t kv_width() const { return groups_ * head_dim_; }
  std::int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
};

}  // namespace primus::model
