// One pre-norm transformer layer, built from its spec (Megatron-Core's TransformerLayer):
//
//   x_mid = x + attention(input_layernorm(x))          attention: SelfAttention or MLA
//   y     = x_mid + mlp(pre_mlp_layernorm(x_mid))       mlp: dense MLP or MoE
//
// The layer owns the norms and residuals; its blocks own their math. Its saved activations are
// one contiguous set (planned here: norms' outputs and statistics, x_mid, and each block's part),
// so a stage can keep one set per layer, per micro-batch in flight, or share one set among
// recomputed layers.
#pragma once

#include <memory>
#include <string>

#include "model/block.hpp"

namespace primus::model {

class TransformerLayer {
 public:
  // prefix: "decoder.layers.{i}." (i global) or "mtp.layers.{j}.transformer_layer.".
  TransformerLayer(const BuildContext& ctx, const std::string& prefix, const LayerSpec& spec);
  ~TransformerLayer();

  std::int64_t saved_floats() const { return saved_.total(); }
  std::int64_t scratch_floats() const;
  MlpBlock& mlp() { return *mlp_; }

  // x [T, h] -> y [T, h] (T: the rank's tokens). call.saved is this layer's activation set.
  // tmp: [T, h] stage scratch.
  void forward(const BlockCall& call, const float* x, float* y, float* tmp);
  // dres [T, h]: gradient of y in, gradient of x out (in place). x: the layer's input.
  void backward(const BlockCall& call, const float* x, float* dres, float* tmp);
  // Generation (transformer_layer_decode.cpp): forward of new tokens with the attention block's
  // decode path over the layer's KV cache.
  void decode(const BlockCall& call, const float* x, float* y, float* tmp, KvCache& cache, KvCache::Layer& layer);
  const AttentionBlock& attention() const { return *attention_; }

 private:
  const ModelConfig& c_;
  ParamId ln1_w_, ln1_b_, ln2_w_, ln2_b_;
  BufferPlan saved_;
  std::int64_t ln1_out_, ln1_mean_, ln1_rstd_, x_mid_, ln2_out_, ln2_mean_, ln2_rstd_;
  std::unique_ptr<AttentionBlock> attention_;
  std::unique_ptr<MlpBlock> mlp_;
  BufferPlan scratch_;  // the layer's own: norm workspace
  std::int64_t norm_ws_;
  std::int64_t sp_ = 1;  // sequence-parallel split of the layer's tokens
};

}  // namespace primus::model
