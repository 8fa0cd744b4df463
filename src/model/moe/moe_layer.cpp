#include "model/moe/moe_layer.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/elementwise.hpp"

namespace primus::model {

BuildContext MoeLayer::local_context(const BuildContext& ctx) {
  BuildContext local = ctx;
  local.seq = ctx.seq / ctx.parallel.sp();
  return local;
}

MoeLayer::MoeLayer(const BuildContext& ctx, const std::string& prefix, BufferPlan& saved)
    : c_(ctx.config),
      mp_(ctx.parallel),
      local_ctx_(local_context(ctx)),
      router_(local_ctx_, prefix + "router.", saved, scratch_),
      dispatcher_(local_ctx_, saved),
      exchange_(ctx.parallel.ep_size() > 1 ? ExpertExchange::create(local_ctx_, dispatcher_, saved, scratch_) : nullptr),
      etp_(ctx.parallel.expert_tp_size() > 1
               ? std::make_unique<ExpertTensorParallel>(local_ctx_, ctx.config.moe.experts / ctx.parallel.ep_size(),
                                                        rows_in(), saved, scratch_)
               : nullptr),
      experts_(local_ctx_, prefix + "experts.", expert_rows(), saved, scratch_) {
  const ModelConfig& c = c_;
  if (ctx.parallel.tp_size() > 1 && !ctx.parallel.sequence_parallel)
    fail("mixture-of-experts layers with tensor_model_parallel_size > 1 need sequence_parallel (as in Megatron)");
  const std::int64_t T = local_ctx_.tokens(), h = c.hidden, R = expert_rows(), K = c.moe.topk;
  rows_ = saved.add(R * h);
  out_rows_ = scratch_.add(R * h);
  d_rows_ = scratch_.add(R * h);
  dprob_row_ = scratch_.add(R);
  in_rows_ = in_out_ = in_prob_ = -1;
  if (etp_) {
    in_rows_ = scratch_.add(rows_in() * h);
    in_out_ = scratch_.add(rows_in() * h);
    in_prob_ = scratch_.add(rows_in());
  }
  dprobs_ = scratch_.add(T * K);
  shared_out_ = gate_ = -1;
  if (c.moe.shared_ffn > 0) {
    const float out_std = c.init_std / std::sqrt(2.0f * static_cast<float>(c.num_layers));
    shared_ = std::make_unique<Mlp>(ctx, prefix + "shared_experts.", c.moe.shared_ffn, out_std, saved);
    if (c.moe.shared_gate) {
      gate_w_ = ctx.layout.add({.name = prefix + "shared_experts.gate_weight", .global_rows = 1, .global_cols = h,
                                .init_std = c.init_std, .sum_grad_over_tp = ctx.parallel.tp_size() > 1});
      gate_ = saved.add(T);
    }
    shared_out_ = saved.add(T * h);
    d_shared_ = scratch_.add(T * h);
    dx_shared_ = scratch_.add(T * h);
  }
}

std::int64_t MoeLayer::scratch_floats() const {
  // The shared experts' own scratch sits after the layer's.
  return scratch_.total() + (shared_ ? shared_->scratch_floats() : 0);
}

BlockCall MoeLayer::local_call(const BlockCall& call) const {
  return BlockCall{call.w, call.batch, call.seq / mp_.sp(), call.saved, call.scratch, call.linear, call.state};
}

BlockCall MoeLayer::shared_call(const BlockCall& call) const {
  return BlockCall{call.w, call.batch, call.seq, call.saved, call.scratch + scratch_.total(), call.linear, call.state};
}

void MoeLayer::forward(const BlockCall& full_call, const float* x, float* y) {
  const BlockCall call = local_call(full_call);
  const std::int64_t T = call.tokens(), h = c_.hidden;
  router_.forward(call, x);
  dispatcher_.plan(call, router_.indices(call), router_.probs(call));
  const DispatchPlan plan = dispatcher_.view(call);
  if (call.state.training) router_.count_routed(plan.counts);
  if (record_) {
    const std::int64_t n = T * c_.moe.topk;
    record_->indices.insert(record_->indices.end(), router_.indices(call), router_.indices(call) + n);
    record_->probs.insert(record_->probs.end(), router_.probs(call), router_.probs(call) + n);
    for (std::int64_t i = 0; i < n; ++i) record_->kept.push_back(plan.row_of_slot[i] >= 0 ? 1 : 0);
  }
  // Rows of this rank's experts (brought by the exchange under expert parallelism), gathered over
  // the expert-tensor-parallel group when the experts are split.
  float* rows = call.at_saved(rows_);
  float* out = call.at_scratch(out_rows_);
  float* in_rows = etp_ ? call.at_scratch(in_rows_) : rows;
  DispatchPlan in_plan = plan;
  if (exchange_) {
    exchange_->dispatch(call, plan, x, in_rows);
    in_plan = exchange_->local_plan(call);
  } else {
    dispatcher_.permute(call, x, in_rows);
  }
  float* in_out = out;
  if (etp_) {
    etp_->gather(call, in_plan, in_rows, rows);
    experts_.forward(call, etp_->plan(call), rows, out);
    in_out = call.at_scratch(in_out_);
    etp_->reduce_scatter(call, out, in_out);
  } else {
    experts_.forward(call, in_plan, rows, out);
  }
  if (exchange_) exchange_->combine(call, plan, in_out, y);
  else dispatcher_.unpermute(call, in_out, y);
  if (!shared_) return;
  float* sh = call.at_saved(shared_out_);
  shared_->forward(shared_call(full_call), x, sh);
  if (gate_w_ != kNoParam) {
    // gate_t = sigmoid(x_t · w_g)
    const float* wg = call.w.p(gate_w_);
    float* g = call.at_saved(gate_);
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      float z = 0.0f;
      for (std::int64_t i = 0; i < h; ++i) z += x[t * h + i] * wg[i];
      g[t] = 1.0f / (1.0f + std::exp(-z));
      for (std::int64_t i = 0; i < h; ++i) y[t * h + i] += g[t] * sh[t * h + i];
    }
  } else {
    kernels::add(y, sh, y, T * h);
  }
}

void MoeLayer::backward(const BlockCall& full_call, const float* x, const float* dy, float* dx) {
  const BlockCall call = local_call(full_call);
  const std::int64_t T = call.tokens(), h = c_.hidden, K = c_.moe.topk;
  const DispatchPlan plan = dispatcher_.view(call);
  float* dout = call.at_scratch(out_rows_);
  float* drows = call.at_scratch(d_rows_);
  float* dprob_row = call.at_scratch(dprob_row_);
  float* dprobs = call.at_scratch(dprobs_);
  // The forward's steps in reverse (rows of this rank's experts; gathered under expert TP).
  float* dout_in = etp_ ? call.at_scratch(in_rows_) : dout;
  if (exchange_) exchange_->combine_backward(call, plan, dy, dout_in);
  else dispatcher_.unpermute_backward(call, dy, dout_in);
  const DispatchPlan in_plan = exchange_ ? exchange_->local_plan(call) : plan;
  float* drows_in = drows;
  float* dprob_in = dprob_row;
  if (etp_) {
    etp_->gather_grad(call, dout_in, dout);
    experts_.backward(call, etp_->plan(call), call.at_saved(rows_), dout, drows, dprob_row);
    drows_in = call.at_scratch(in_out_);
    dprob_in = call.at_scratch(in_prob_);
    etp_->reduce_scatter_grad(call, drows, dprob_row, drows_in, dprob_in);
  } else {
    experts_.backward(call, in_plan, call.at_saved(rows_), dout, drows, dprob_row);
  }
  if (exchange_) {
    exchange_->dispatch_backward(call, plan, drows_in, dprob_in, dx, dprobs);
  } else {
    dispatcher_.permute_backward(call, drows_in, dx);
    for (std::int64_t i = 0; i < T * K; ++i)
      dprobs[i] = plan.row_of_slot[i] >= 0 ? dprob_in[plan.row_of_slot[i]] : 0.0f;
  }
  router_.backward(call, x, dprobs, dx);
  if (!shared_) return;
  const float* sh = call.at_saved(shared_out_);
  float* d_sh = call.at_scratch(d_shared_);
  float* dx_sh = call.at_scratch(dx_shared_);
  if (gate_w_ != kNoParam) {
    const float* g = call.at_saved(gate_);
    const float* wg = call.w.p(gate_w_);
    float* dwg = call.w.g(gate_w_);
    // dz_t = (dy_t · shared_t) g_t (1 − g_t); kept in dx_sh's first T floats until used.
    float* dz = dx_sh;
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      float dot = 0.0f;
      for (std::int64_t i = 0; i < h; ++i) {
        dot += dy[t * h + i] * sh[t * h + i];
        d_sh[t * h + i] = g[t] * dy[t * h + i];
      }
      dz[t] = dot * g[t] * (1.0f - g[t]);
    }
    // dw_g += Σ_t dz_t x_t (fixed order: deterministic); dx_t += dz_t w_g.
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < h; ++i) dwg[i] += dz[t] * x[t * h + i];
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < h; ++i) dx[t * h + i] += dz[t] * wg[i];
    shared_->backward(shared_call(full_call), x, d_sh, dx_sh);
  } else {
    shared_->backward(shared_call(full_call), x, dy, dx_sh);
  }
  kernels::add(dx, dx_sh, dx, T * h);
}

}  // namespace primus::model
