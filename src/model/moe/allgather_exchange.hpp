// Megatron-Core's MoEAllGatherTokenDispatcher across the expert-model-parallel group: every rank
// all-gathers the group's tokens [P·T, h] and their plans (per-expert counts, each row's token,
// slot and probability), takes the rows of its own experts (expert-major, then by source), and
// after the experts scatters each row's output onto its token in a [P·T, h] partial sum that is
// reduce-scattered back to the tokens' ranks. Backward: the output gradient is all-gathered, the
// input and probability gradients are reduce-scattered.
#pragma once

#include "model/moe/expert_exchange.hpp"

namespace primus::model {

class AllGatherExchange final : public ExpertExchange {
 public:
  AllGatherExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved,
                    BufferPlan& scratch);

  void dispatch(const BlockCall& call, const DispatchPlan& plan, const float* x, float* local_rows) override;
  void combine(const BlockCall& call, const DispatchPlan& plan, const float* local_out, float* y) override;
  void combine_backward(const BlockCall& call, const DispatchPlan& plan, const float* dy, float* dlocal_out) override;
  void dispatch_backward(const BlockCall& call, const DispatchPlan& plan, const float* dlocal_rows,
                         const float* dprob_local, float* dx, float* dprobs) override;

 private:
  // Σ over local rows of rows[r] onto their gathered tokens, reduce-scattered: out [T, h].
  void scatter_reduce(const BlockCall& call, const float* rows, float* out);

  std::int64_t local_token_, local_slot_;  // saved [Rl] int: gathered token (s·T + t), slot (s·T·k + i or -1)
  std::int64_t gathered_, g_counts_, g_token_, g_slot_, g_prob_, g_dprob_;  // scratch
};

}  // namespace primus::model
