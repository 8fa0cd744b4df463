#include "model/mlp.hpp"

#include "kernels/activation.hpp"

namespace primus::model {

Mlp::Mlp(const BuildContext& ctx, const std::string& prefix, std::int64_t ffn, float output_init_std, BufferPlan& saved)
    : c_(ctx.config), ffn_(ffn) {
  const ModelConfig& c = c_;
  ParameterLayout& L = ctx.layout;
  const std::int64_t h = c.hidden, fc1 = fc1_width();
  fc1_w_ = L.add({.name = prefix + "linear_fc1.weight", .global_rows = fc1, .global_cols = h, .init_std = c.init_std,
                  .tensor_parallel = true});
  fc1_b_ = c.linear_bias ? L.add({.name = prefix + "linear_fc1.bias", .global_rows = fc1, .decay = false,
                                  .tensor_parallel = true})
                         : kNoParam;
  fc2_w_ = L.add({.name = prefix + "linear_fc2.weight", .global_rows = h, .global_cols = ffn, .init_std = output_init_std,
                  .tensor_parallel = true});
  fc2_b_ = c.linear_bias ? L.add({.name = prefix + "linear_fc2.bias", .global_rows = h, .decay = false}) : kNoParam;
  const std::int64_t T = ctx.tokens();
  ctx.linear.need(T, h, fc1);
  ctx.linear.need(T, ffn, h);
  fc1_ = saved.add(T * fc1);
  act_ = saved.add(T * ffn_);
  d_act_ = scratch_.add(T * ffn_);
  d_fc1_ = scratch_.add(T * fc1);
}

void Mlp::forward(const BlockCall& call, const float* x, float* y) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  float* fc1 = call.at_saved(fc1_);
  float* act = call.at_saved(act_);
  linear_forward(call.w.linear(fc1_w_, fc1_b_, h, fc1_width()), x, fc1, T, call.linear);
  if (c_.swiglu) kernels::swiglu_forward(fc1, act, T, ffn_);
  else kernels::gelu_forward(fc1, act, T * ffn_);
  linear_forward(call.w.linear(fc2_w_, fc2_b_, ffn_, h), act, y, T, call.linear);
}

void Mlp::backward(const BlockCall& call, const float* x, const float* dy, float* dx) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  float* d_act = call.at_scratch(d_act_);
  float* d_fc1 = call.at_scratch(d_fc1_);
  linear_backward(call.w.linear(fc2_w_, fc2_b_, ffn_, h), dy, call.at_saved(act_), d_act, T, call.linear);
  if (c_.swiglu) kernels::swiglu_backward(d_act, call.at_saved(fc1_), d_fc1, T, ffn_);
  else kernels::gelu_backward(d_act, call.at_saved(fc1_), d_fc1, T * ffn_);
  linear_backward(call.w.linear(fc1_w_, fc1_b_, h, fc1_width()), d_fc1, x, dx, T, call.linear);
}

}  // namespace primus::model
