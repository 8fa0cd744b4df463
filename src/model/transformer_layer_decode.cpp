// TransformerLayer's decode path: forward() with the attention block's KV-cache decode.
#include "kernels/elementwise.hpp"
#include "model/norm.hpp"
#include "model/transformer_layer.hpp"

namespace primus::model {

void TransformerLayer::decode(const BlockCall& call, const float* x, float* y, float* tmp, KvCache& cache,
                              KvCache::Layer& layer) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), h = c.hidden;
  float* ln1 = call.at_saved(ln1_out_);
  float* x_mid = call.at_saved(x_mid_);
  float* ln2 = call.at_saved(ln2_out_);
  norm_forward(c.norm, c.norm_eps, NormParams{w.p(ln1_w_), w.p(ln1_b_), nullptr, nullptr}, x, ln1,
               call.at_saved(ln1_mean_), call.at_saved(ln1_rstd_), T, h);
  attention_->decode(call, ln1, tmp, cache, layer);
  kernels::add(x, tmp, x_mid, T * h);
  norm_forward(c.norm, c.norm_eps, NormParams{w.p(ln2_w_), w.p(ln2_b_), nullptr, nullptr}, x_mid, ln2,
               call.at_saved(ln2_mean_), call.at_saved(ln2_rstd_), T, h);
  mlp_->forward(call, ln2, tmp);
  kernels::add(x_mid, tmp, y, T * h);
}

}  // namespace primus::model
