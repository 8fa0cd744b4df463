#include "model/output_layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "kernels/cross_entropy.hpp"

namespace primus::model {

OutputLayer::OutputLayer(const BuildContext& ctx, ParamId tied, BufferPlan& scratch)
    : c_(ctx.config), mp_(ctx.parallel), io_(ctx, ctx.config.hidden, scratch) {
  const ModelConfig& c = c_;
  const std::int64_t t = ctx.parallel.tp_size();
  vocab_local_ = c.padded_vocab / t;
  v0_ = ctx.parallel.tp_rank() * vocab_local_;
  weight_ = tied != kNoParam ? tied
                             : ctx.layout.add({.name = "output_layer.weight", .global_rows = c.padded_vocab,
                                               .global_cols = c.hidden, .init_std = c.init_std,
                                               .shard = t > 1 ? Shard{{RowRange{v0_, vocab_local_}}, 0} : Shard{},
                                               .tensor_parallel = true});
  // About 8 M logits at a time.
  chunk_ = std::clamp<std::int64_t>((8 << 20) / std::max<std::int64_t>(vocab_local_, 1), 16, ctx.tokens());
  ctx.linear.need(chunk_, c.hidden, vocab_local_);
  logits_ = scratch.add(chunk_ * vocab_local_);
  losses_ = scratch.add(chunk_);
  lse_ = scratch.add(chunk_);
  dloss_ = scratch.add(chunk_);
  stats_ = scratch.add(t > 1 ? 3 * chunk_ : 0);           // max, then Σexp and the target's logit
  dx_full_ = scratch.add(t > 1 ? ctx.tokens() * c.hidden : 0);  // partial input gradient
}

double OutputLayer::forward(const BlockCall& call, const float* x_local, const std::int32_t* labels,
                            const float* mask, float loss_weight, float* dx_local, float* logits_out) const {
  const ModelConfig& c = c_;
  const std::int64_t T = call.tokens(), h = c.hidden, V = vocab_local_;
  const bool split = io_.active();
  if (split && logits_out) fail("internal: logits are not gathered under tensor parallelism");
  const float* x = io_.gather(call, x_local);
  float* dx = dx_local ? (split ? call.at_scratch(dx_full_) : dx_local) : nullptr;
  float* logits = call.at_scratch(logits_);
  float* losses = call.at_scratch(losses_);
  float* lse = call.at_scratch(lse_);
  float* dloss = call.at_scratch(dloss_);
  const LinearWeights out = call.w.linear(weight_, kNoParam, h, V);
  parallel::Communicator& tp = mp_.tp_group();
  double total = 0.0;
  for (std::int64_t t0 = 0; t0 < T; t0 += chunk_) {
    const std::int64_t n = std::min(chunk_, T - t0);
    // logits[n, V] = x[t0:t0+n] @ W^T
    linear_forward(out, x + t0 * h, logits, n, call.linear);
    if (logits_out) std::memcpy(logits_out + t0 * V, logits, static_cast<size_t>(n * V) * sizeof(float));
    if (!split) {
      kernels::cross_entropy_forward(logits, labels + t0, losses, lse, n, c.vocab, V);
    } else {
      float* mx = call.at_scratch(stats_);
      float* sums = mx + chunk_;  // [Σexp | target], 2n floats reduced together
      kernels::cross_entropy_local_max(logits, mx, n, V, v0_, c.vocab);
      tp.allreduce(mx, n, parallel::ReduceOp::Max);
      kernels::cross_entropy_local_sums(logits, labels + t0, mx, sums, sums + n, n, V, v0_, c.vocab);
      tp.allreduce(sums, 2 * n);
      for (std::int64_t t = 0; t < n; ++t) {
        lse[t] = mx[t] + std::log(sums[t]);
        losses[t] = lse[t] - sums[n + t];
      }
    }
    for (std::int64_t t = 0; t < n; ++t) total += static_cast<double>(losses[t]) * mask[t0 + t];
    if (!dx) continue;
    for (std::int64_t t = 0; t < n; ++t) dloss[t] = mask[t0 + t] * loss_weight;
    if (!split) kernels::cross_entropy_backward(logits, lse, labels + t0, dloss, logits, n, c.vocab, V);
    else kernels::cross_entropy_local_backward(logits, lse, labels + t0, dloss, logits, n, V, v0_, c.vocab);
    // dx[t0:t0+n] = dlogits @ W (this rank's vocabulary part); dW += dlogits^T @ x
    linear_backward(out, logits, x + t0 * h, dx + t0 * h, n, call.linear);
  }
  if (dx && split) io_.reduce(call, dx, dx_local);
  return total;
}

}  // namespace primus::model
