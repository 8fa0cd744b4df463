#include "model/output_layer.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cross_entropy.hpp"

namespace primus::model {

OutputLayer::OutputLayer(const BuildContext& ctx, ParamId tied, BufferPlan& scratch) : c_(ctx.config) {
  const ModelConfig& c = c_;
  weight_ = tied != kNoParam ? tied
                             : ctx.layout.add({.name = "output_layer.weight", .global_rows = c.padded_vocab,
                                               .global_cols = c.hidden, .init_std = c.init_std,
                                               .tensor_parallel = true});
  // About 8 M logits at a time.
  chunk_ = std::clamp<std::int64_t>((8 << 20) / std::max<std::int64_t>(c.padded_vocab, 1), 16, ctx.tokens());
  ctx.linear.need(chunk_, c.hidden, c.padded_vocab);
  logits_ = scratch.add(chunk_ * c.padded_vocab);
  losses_ = scratch.add(chunk_);
  lse_ = scratch.add(chunk_);
  dloss_ = scratch.add(chunk_);
}

double OutputLayer::forward(const BlockCall& call, const float* x, const std::int32_t* labels, const float* mask,
                            float loss_weight, float* dx, float* logits_out) const {
  const ModelConfig& c = c_;
  const std::int64_t T = call.tokens(), h = c.hidden, V = c.padded_vocab;
  float* logits = call.at_scratch(logits_);
  float* losses = call.at_scratch(losses_);
  float* lse = call.at_scratch(lse_);
  float* dloss = call.at_scratch(dloss_);
  const LinearWeights out = call.w.linear(weight_, kNoParam, h, V);
  double total = 0.0;
  for (std::int64_t t0 = 0; t0 < T; t0 += chunk_) {
    const std::int64_t n = std::min(chunk_, T - t0);
    // logits[n, V] = x[t0:t0+n] @ W^T
    linear_forward(out, x + t0 * h, logits, n, call.linear);
    if (logits_out) std::memcpy(logits_out + t0 * V, logits, static_cast<size_t>(n * V) * sizeof(float));
    kernels::cross_entropy_forward(logits, labels + t0, losses, lse, n, c.vocab, V);
    for (std::int64_t t = 0; t < n; ++t) total += static_cast<double>(losses[t]) * mask[t0 + t];
    if (!dx) continue;
    for (std::int64_t t = 0; t < n; ++t) dloss[t] = mask[t0 + t] * loss_weight;
    kernels::cross_entropy_backward(logits, lse, labels + t0, dloss, logits, n, c.vocab, V);
    // dx[t0:t0+n] = dlogits @ W; dW += dlogits^T @ x
    linear_backward(out, logits, x + t0 * h, dx + t0 * h, n, call.linear);
  }
  return total;
}

}  // namespace primus::model
