#include "model/mlp.hpp"

#include "core/error.hpp"
#include "kernels/activation.hpp"
#include "kernels/bias.hpp"

namespace primus::model {

Mlp::Mlp(const BuildContext& ctx, const std::string& prefix, std::int64_t ffn, float output_init_std, BufferPlan& saved)
    : c_(ctx.config), mp_(ctx.parallel), ffn_(ffn / ctx.parallel.tp_size()), io_(ctx, ctx.config.hidden, scratch_) {
  const ModelConfig& c = c_;
  ParameterLayout& L = ctx.layout;
  const std::int64_t t = ctx.parallel.tp_size(), r = ctx.parallel.tp_rank();
  if (ffn % t != 0) fail("{}: intermediate size {} is not divisible by tensor_model_parallel_size {}", prefix, ffn, t);
  const std::int64_t h = c.hidden, fc1 = fc1_width(), global_fc1 = c.swiglu ? 2 * ffn : ffn;
  // fc1 rows [gate; up]: rank r holds [gate_r; up_r] (Megatron's stride-2 column split).
  Shard rows;
  rows.rows.push_back(RowRange{r * ffn_, ffn_});
  if (c.swiglu) rows.rows.push_back(RowRange{ffn + r * ffn_, ffn_});
  fc1_w_ = L.add({.name = prefix + "linear_fc1.weight", .global_rows = global_fc1, .global_cols = h,
                  .init_std = c.init_std, .shard = rows, .tensor_parallel = true});
  fc1_b_ = c.linear_bias ? L.add({.name = prefix + "linear_fc1.bias", .global_rows = global_fc1, .decay = false,
                                  .shard = rows, .tensor_parallel = true})
                         : kNoParam;
  fc2_w_ = L.add({.name = prefix + "linear_fc2.weight", .global_rows = h, .global_cols = ffn, .init_std = output_init_std,
                  .shard = Shard{{}, r * ffn_}, .local_cols = ffn_, .tensor_parallel = true});
  fc2_b_ = c.linear_bias ? L.add({.name = prefix + "linear_fc2.bias", .global_rows = h, .decay = false,
                                  .sum_grad_over_tp = ctx.parallel.sequence_parallel})
                         : kNoParam;
  const std::int64_t T = ctx.tokens();
  ctx.linear.need(T, h, fc1);
  ctx.linear.need(T, ffn, h);
  fc1_ = saved.add(T * fc1);
  act_ = saved.add(T * ffn_);
  d_act_ = scratch_.add(T * ffn_);
  d_fc1_ = scratch_.add(T * fc1);
}

void Mlp::forward(const BlockCall& call, const float* x_local, float* y_local) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  const float* x = io_.gather(call, x_local);
  float* fc1 = call.at_saved(fc1_);
  float* act = call.at_saved(act_);
  linear_forward(call.w.linear(fc1_w_, fc1_b_, h, fc1_width()), x, fc1, T, call.linear);
  if (c_.swiglu) kernels::swiglu_forward(fc1, act, T, ffn_);
  else kernels::gelu_forward(fc1, act, T * ffn_);
  float* y = io_.partial_buffer(call, y_local);
  linear_forward(call.w.linear(fc2_w_, kNoParam, ffn_, h), act, y, T, call.linear);
  io_.reduce(call, y, y_local);
  if (fc2_b_ != kNoParam) kernels::bias_add_forward(y_local, call.w.p(fc2_b_), T / mp_.sp(), h);
}

void Mlp::backward(const BlockCall& call, const float* x_local, const float* dy_local, float* dx_local) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  float* d_act = call.at_scratch(d_act_);
  float* d_fc1 = call.at_scratch(d_fc1_);
  if (fc2_b_ != kNoParam) kernels::bias_backward(dy_local, call.w.g(fc2_b_), T / mp_.sp(), h, call.linear.bias_ws);
  const float* dy = io_.gather(call, dy_local, 1);
  linear_backward(call.w.linear(fc2_w_, kNoParam, ffn_, h), dy, call.at_saved(act_), d_act, T, call.linear);
  if (c_.swiglu) kernels::swiglu_backward(d_act, call.at_saved(fc1_), d_fc1, T, ffn_);
  else kernels::gelu_backward(d_act, call.at_saved(fc1_), d_fc1, T * ffn_);
  const float* x = io_.gather(call, x_local);
  float* dx = io_.partial_buffer(call, dx_local);
  linear_backward(call.w.linear(fc1_w_, fc1_b_, h, fc1_width()), d_fc1, x, dx, T, call.linear);
  io_.reduce(call, dx, dx_local);
}

}  // namespace primus::model
