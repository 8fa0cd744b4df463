#include "model/moe/experts.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "kernels/activation.hpp"

namespace primus::model {

Experts::Experts(const BuildContext& ctx, const std::string& prefix, std::int64_t max_rows, BufferPlan& saved,
                 BufferPlan& scratch)
    : c_(ctx.config),
      E_(ctx.config.moe.experts / ctx.parallel.ep_size()),
      ffn_(ctx.config.moe.ffn / ctx.parallel.expert_tp_size()) {
  if (E_ * ctx.parallel.ep_size() != ctx.config.moe.experts)
    fail("num_experts {} is not divisible by expert_model_parallel_size {}", ctx.config.moe.experts,
         ctx.parallel.ep_size());
  const std::int64_t Q = ctx.parallel.expert_tp_size(), r = ctx.parallel.expert_tp_rank(), F = ctx.config.moe.ffn;
  if (ffn_ * Q != F) fail("moe_ffn_hidden_size {} is not divisible by expert_tensor_parallel_size {}", F, Q);
  const std::int64_t first = E_ * ctx.parallel.ep_rank();
  const ModelConfig& c = c_;
  const std::int64_t h = c.hidden, fc1 = fc1_width(), global_fc1 = c.swiglu ? 2 * F : F;
  const float out_std = c.init_std / std::sqrt(2.0f * static_cast<float>(c.num_layers));
  // Expert tensor parallelism splits each expert as a tensor-parallel MLP: fc1 rows [gate_r; up_r]
  // (Megatron's stride-2 column split), fc2 columns.
  Shard rows;
  if (Q > 1) {
    rows.rows.push_back(RowRange{r * ffn_, ffn_});
    if (c.swiglu) rows.rows.push_back(RowRange{F + r * ffn_, ffn_});
  }
  const Shard cols = Q > 1 ? Shard{{}, r * ffn_} : Shard{};
  const bool split = Q > 1;
  ParameterLayout& L = ctx.layout;
  for (std::int64_t e = 0; e < E_; ++e) {
    const std::string p = fmt::format("{}local_experts.{}.", prefix, first + e);
    fc1_w_.push_back(L.add({.name = p + "linear_fc1.weight", .global_rows = global_fc1, .global_cols = h,
                            .init_std = c.init_std, .group = ParamGroup::Expert, .shard = rows,
                            .tensor_parallel = split}));
    fc1_b_.push_back(c.linear_bias ? L.add({.name = p + "linear_fc1.bias", .global_rows = global_fc1, .decay = false,
                                            .group = ParamGroup::Expert, .shard = rows, .tensor_parallel = split})
                                   : kNoParam);
    fc2_w_.push_back(L.add({.name = p + "linear_fc2.weight", .global_rows = h, .global_cols = F, .init_std = out_std,
                            .group = ParamGroup::Expert, .shard = cols, .local_cols = ffn_, .tensor_parallel = split}));
    if (c.linear_bias && split)
      fail("add_bias_linear with expert_tensor_parallel_size > 1 is not supported by this engine (the experts' "
           "row-parallel fc2 bias); use expert_tensor_parallel_size: 1");
    fc2_b_.push_back(c.linear_bias ? L.add({.name = p + "linear_fc2.bias", .global_rows = h, .decay = false,
                                            .group = ParamGroup::Expert})
                                   : kNoParam);
  }
  ctx.linear.need(max_rows, h, fc1);
  ctx.linear.need(max_rows, ffn_, h);
  fc1_ = saved.add(max_rows * fc1);
  act_ = saved.add(max_rows * ffn_);
  act_p_ = scratch.add(max_rows * ffn_);
  d_act_ = scratch.add(max_rows * ffn_);
  d_fc1_ = scratch.add(max_rows * fc1);
}

LinearWeights Experts::fc1_weights(const StageWeights& w, std::int64_t e) const {
  LinearWeights l = w.linear(fc1_w_[static_cast<size_t>(e)], fc1_b_[static_cast<size_t>(e)], c_.hidden, fc1_width());
  l.dynamic_rows = true;
  return l;
}

LinearWeights Experts::fc2_weights(const StageWeights& w, std::int64_t e) const {
  LinearWeights l = w.linear(fc2_w_[static_cast<size_t>(e)], fc2_b_[static_cast<size_t>(e)], ffn_, c_.hidden);
  l.dynamic_rows = true;
  return l;
}

void Experts::forward(const BlockCall& call, const DispatchPlan& plan, const float* rows, float* out) {
  const std::int64_t h = c_.hidden, f = ffn_, f1 = fc1_width();
  float* fc1 = call.at_saved(fc1_);
  float* act = call.at_saved(act_);
  float* act_p = call.at_scratch(act_p_);
  for (std::int64_t e = 0; e < E_; ++e) {
    const std::int64_t r0 = plan.offsets[e], n = plan.counts[e];
    if (n == 0) continue;
    linear_forward(fc1_weights(call.w, e), rows + r0 * h, fc1 + r0 * f1, n, call.linear);
    if (c_.swiglu) kernels::swiglu_forward(fc1 + r0 * f1, act + r0 * f, n, f);
    else kernels::gelu_forward(fc1 + r0 * f1, act + r0 * f, n * f);
  }
  const std::int64_t R = plan.offsets[E_];
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < R; ++r) {
    const float p = plan.prob_of_row[r];
    for (std::int64_t i = 0; i < f; ++i) act_p[r * f + i] = p * act[r * f + i];
  }
  for (std::int64_t e = 0; e < E_; ++e) {
    const std::int64_t r0 = plan.offsets[e], n = plan.counts[e];
    if (n) linear_forward(fc2_weights(call.w, e), act_p + r0 * f, out + r0 * h, n, call.linear);
  }
}

void Experts::backward(const BlockCall& call, const DispatchPlan& plan, const float* rows, const float* dout,
                       float* drows, float* dprob_row) {
  const std::int64_t h = c_.hidden, f = ffn_, f1 = fc1_width(), R = plan.offsets[E_];
  const float* fc1 = call.at_saved(fc1_);
  const float* act = call.at_saved(act_);
  float* act_p = call.at_scratch(act_p_);
  float* d_act = call.at_scratch(d_act_);
  float* d_fc1 = call.at_scratch(d_fc1_);
  // act·p again (scratch was reused by other layers since the forward).
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < R; ++r) {
    const float p = plan.prob_of_row[r];
    for (std::int64_t i = 0; i < f; ++i) act_p[r * f + i] = p * act[r * f + i];
  }
  for (std::int64_t e = 0; e < E_; ++e) {
    const std::int64_t r0 = plan.offsets[e], n = plan.counts[e];
    // d(act·p) = dout @ W2; dW2 += dout^T @ (act·p)
    if (n) linear_backward(fc2_weights(call.w, e), dout + r0 * h, act_p + r0 * f, d_act + r0 * f, n, call.linear);
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < R; ++r) {
    const float p = plan.prob_of_row[r];
    float dot = 0.0f;
    for (std::int64_t i = 0; i < f; ++i) {
      dot += d_act[r * f + i] * act[r * f + i];
      d_act[r * f + i] *= p;
    }
    dprob_row[r] = dot;
  }
  for (std::int64_t e = 0; e < E_; ++e) {
    const std::int64_t r0 = plan.offsets[e], n = plan.counts[e];
    if (n == 0) continue;
    if (c_.swiglu) kernels::swiglu_backward(d_act + r0 * f, fc1 + r0 * f1, d_fc1 + r0 * f1, n, f);
    else kernels::gelu_backward(d_act + r0 * f, fc1 + r0 * f1, d_fc1 + r0 * f1, n * f);
    linear_backward(fc1_weights(call.w, e), d_fc1 + r0 * f1, rows + r0 * h, drows + r0 * h, n, call.linear);
  }
}

}  // namespace primus::model
