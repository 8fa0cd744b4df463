// The routed experts of an MoE layer (Megatron-Core's GroupedMLP / SequentialMLP): expert e is an
// MLP (fc1 -> SwiGLU or GeLU -> fc2, moe_ffn_hidden_size wide) applied to its contiguous block of
// dispatched rows; the routing probability multiplies each row after the activation, before fc2
// (as Megatron's experts apply it). Each expert's weights are separate parameters
// (mlp.experts.local_experts.{e}.linear_fc1.weight, ...) in the expert region of the flat buffer.
// Under expert parallelism this rank holds experts [ep_rank·E/ep, (ep_rank+1)·E/ep) only, named by
// their global index e (Megatron's sharded checkpoint names), and the plan's counts/offsets are
// over those local experts (the exchange has brought their rows here).
//
// Shapes: rows [R, h] in, [R, h] out; fc1 [R, fc1] (2f for SwiGLU); act [R, f]; R = dispatched rows.
#pragma once

#include <string>
#include <vector>

#include "model/block.hpp"
#include "model/moe/token_dispatcher.hpp"

namespace primus::model {

class Experts {
 public:
  // prefix: "decoder.layers.{i}.mlp.experts."; max_rows: the bound on rows reaching this rank's experts.
  Experts(const BuildContext& ctx, const std::string& prefix, std::int64_t max_rows, BufferPlan& saved,
          BufferPlan& scratch);

  // rows [R, h] (the permuted input, kept for backward in saved) -> out [R, h].
  void forward(const BlockCall& call, const DispatchPlan& plan, const float* rows, float* out);
  // dout [R, h] -> drows [R, h] (overwritten), dprob_row [R]; weight gradients accumulated.
  void backward(const BlockCall& call, const DispatchPlan& plan, const float* rows, const float* dout, float* drows,
                float* dprob_row);

 private:
  LinearWeights fc1_weights(const StageWeights& w, std::int64_t e) const;
  LinearWeights fc2_weights(const StageWeights& w, std::int64_t e) const;

  const ModelConfig& c_;
  std::int64_t E_, ffn_;                      // E_: this rank's (local) experts
  std::vector<ParamId> fc1_w_, fc1_b_, fc2_w_, fc2_b_;
  std::int64_t fc1_, act_;                    // saved [R_max, ...]
  std::int64_t act_p_, d_act_, d_fc1_;        // scratch

  std::int64_t fc1_width() const { return c_.swiglu ? 2 * ffn_ : ffn_; }
};

}  // namespace primus::model
