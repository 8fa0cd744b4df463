// Megatron-Core's MLP as a block: y = linear_fc2(act(linear_fc1(x))), act = SwiGLU on
// fc1 = [gate; up] (2f rows) or GeLU (f rows). Also the shared experts of an MoE layer
// (prefix "mlp.shared_experts.", their own intermediate size).
//
// Shapes: x, y [T, h]; fc1 [T, fc1] (fc1 = 2f for SwiGLU, else f); act [T, f].
#pragma once

#include <string>

#include "model/block.hpp"
#include "model/tensor_parallel_io.hpp"

namespace primus::model {

class Mlp final : public MlpBlock {
 public:
  // prefix: "decoder.layers.{i}.mlp."; ffn: intermediate size f (global; each tensor-parallel
  // rank holds f / t of it).
  Mlp(const BuildContext& ctx, const std::string& prefix, std::int64_t ffn, float output_init_std, BufferPlan& saved);

  std::int64_t scratch_floats() const override { return scratch_.total(); }
  void forward(const BlockCall& call, const float* x, float* y) override;
  void backward(const BlockCall& call, const float* x, const float* dy, float* dx) override;

 private:
  const ModelConfig& c_;
  const ModelParallel& mp_;
  std::int64_t ffn_;  // on this rank (column-parallel fc1, row-parallel fc2)
  ParamId fc1_w_, fc1_b_, fc2_w_, fc2_b_;
  std::int64_t fc1_, act_;         // saved
  BufferPlan scratch_;
  std::int64_t d_act_, d_fc1_;     // scratch
  TensorParallelIo io_;

  std::int64_t fc1_width() const { return c_.swiglu ? 2 * ffn_ : ffn_; }
};

}  // namespace primus::model
