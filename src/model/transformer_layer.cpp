#include "model/transformer_layer.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "kernels/elementwise.hpp"
#include "model/mlp.hpp"
#include "model/moe/moe_layer.hpp"
#include "model/multi_latent_attention.hpp"
#include "model/norm.hpp"
#include "model/self_attention.hpp"

namespace primus::model {

TransformerLayer::TransformerLayer(const BuildContext& ctx, const std::string& prefix, const LayerSpec& spec)
    : c_(ctx.config) {
  const ModelConfig& c = c_;
  const bool ln = c.norm == Norm::LayerNorm;
  // Megatron scales the init of the projections that write into the residual stream.
  const float out_std = c.init_std / std::sqrt(2.0f * static_cast<float>(c.num_layers));
  ParameterLayout& L = ctx.layout;
  // Norms and residuals work on the rank's tokens (its sequence shard under sequence parallelism,
  // where each rank's norm-weight gradient is a partial sum).
  const std::int64_t T = ctx.local_tokens(), h = c.hidden;
  const bool partial = ctx.parallel.sequence_parallel && ctx.parallel.tp_size() > 1;
  auto norm_param = [&](const std::string& name, bool bias) {
    if (bias && !ln) return kNoParam;
    return L.add({.name = prefix + name + (bias ? ".bias" : ".weight"), .global_rows = h, .decay = false,
                  .init_value = bias ? 0.0f : 1.0f, .sum_grad_over_tp = partial});
  };
  sp_ = ctx.parallel.sp();

  ln1_w_ = norm_param("input_layernorm", false);
  ln1_b_ = norm_param("input_layernorm", true);
  ln1_out_ = saved_.add(T * h);
  ln1_mean_ = saved_.add(ln ? T : 0);
  ln1_rstd_ = saved_.add(T);
  if (spec.attention == AttentionKind::MultiLatent)
    attention_ = std::make_unique<MultiLatentAttention>(ctx, prefix + "self_attention.", out_std, saved_);
  else
    attention_ = std::make_unique<SelfAttention>(ctx, prefix + "self_attention.", out_std, saved_);
  x_mid_ = saved_.add(T * h);

  ln2_w_ = norm_param("pre_mlp_layernorm", false);
  ln2_b_ = norm_param("pre_mlp_layernorm", true);
  ln2_out_ = saved_.add(T * h);
  ln2_mean_ = saved_.add(ln ? T : 0);
  ln2_rstd_ = saved_.add(T);
  if (spec.mlp == MlpKind::MoE) mlp_ = std::make_unique<MoeLayer>(ctx, prefix + "mlp.", saved_);
  else mlp_ = std::make_unique<Mlp>(ctx, prefix + "mlp.", c.ffn, out_std, saved_);
  norm_ws_ = scratch_.add(norm_workspace(h));
}

TransformerLayer::~TransformerLayer() = default;

std::int64_t TransformerLayer::scratch_floats() const {
  // The layer's workspace sits after the larger of its blocks' scratch (they never run together).
  return std::max(attention_->scratch_floats(), mlp_->scratch_floats()) + scratch_.total();
}

void TransformerLayer::forward(const BlockCall& call, const float* x, float* y, float* tmp) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens() / sp_, h = c.hidden;
  float* ln1 = call.at_saved(ln1_out_);
  float* x_mid = call.at_saved(x_mid_);
  float* ln2 = call.at_saved(ln2_out_);
  norm_forward(c.norm, c.norm_eps, NormParams{w.p(ln1_w_), w.p(ln1_b_), nullptr, nullptr}, x, ln1,
               call.at_saved(ln1_mean_), call.at_saved(ln1_rstd_), T, h);
  attention_->forward(call, ln1, tmp);
  kernels::add(x, tmp, x_mid, T * h);
  norm_forward(c.norm, c.norm_eps, NormParams{w.p(ln2_w_), w.p(ln2_b_), nullptr, nullptr}, x_mid, ln2,
               call.at_saved(ln2_mean_), call.at_saved(ln2_rstd_), T, h);
  mlp_->forward(call, ln2, tmp);
  kernels::add(x_mid, tmp, y, T * h);
}

void TransformerLayer::backward(const BlockCall& call, const float* x, float* dres, float* tmp) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens() / sp_, h = c.hidden;
  float* ws = call.at_scratch(std::max(attention_->scratch_floats(), mlp_->scratch_floats()) + norm_ws_);
  // MLP branch: dres holds dy = d x_mid through the residual, plus the branch's contribution.
  mlp_->backward(call, call.at_saved(ln2_out_), dres, tmp);
  norm_backward(c.norm, NormParams{w.p(ln2_w_), w.p(ln2_b_), w.g(ln2_w_), w.g(ln2_b_)}, tmp, call.at_saved(x_mid_),
                call.at_saved(ln2_mean_), call.at_saved(ln2_rstd_), tmp, T, h, ws);
  kernels::add(dres, tmp, dres, T * h);
  // Attention branch: dres = d x_mid.
  attention_->backward(call, call.at_saved(ln1_out_), dres, tmp);
  norm_backward(c.norm, NormParams{w.p(ln1_w_), w.p(ln1_b_), w.g(ln1_w_), w.g(ln1_b_)}, tmp, x,
                call.at_saved(ln1_mean_), call.at_saved(ln1_rstd_), tmp, T, h, ws);
  kernels::add(dres, tmp, dres, T * h);
}

}  // namespace primus::model
