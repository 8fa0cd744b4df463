// The cross-rank leg of Megatron-Core's token dispatchers under expert parallelism
// (expert_model_parallel_size = P > 1): the experts are split over the P ranks of the expert-model-
// parallel group, rank j owning experts [j·E/P, (j+1)·E/P); every rank routes and plans its own
// tokens (TokenDispatcher: capacity, expert-major rows) exactly as one process would, then the
// exchange brings each kept (token, expert) row to the rank owning the expert, the local experts run
// on their rows as one grouped pass, and the results come back to the token's rank, where they are
// summed per token (the probabilities were applied inside the experts).
//
//   AllToAllExchange   (moe_token_dispatcher_type alltoall):  per-expert counts exchanged, rows
//                       all-to-all'd to the owners and back (MoEAlltoAllTokenDispatcher)
//   AllGatherExchange  (moe_token_dispatcher_type allgather): every rank gathers the group's tokens
//                       and routing, takes the rows of its experts, and the partial outputs are
//                       reduce-scattered back (MoEAllGatherTokenDispatcher)
//
// Local rows are ordered expert-major, then by source rank, then as the source planned them (its
// token order), as Megatron's sort_chunks_by_idxs leaves them for the grouped GEMM. The bound on
// local rows is planned once: P sources × (T·min(k, E/P), or E/P · capacity with padding or a
// smaller capacity) — the dropless worst case, every token of the group choosing this rank.
//
// Each exchange counts what it sends (DispatchVolume) so benchmarks and the training summary can
// report it.
#pragma once

#include <cstdint>
#include <memory>

#include "model/block.hpp"
#include "model/moe/token_dispatcher.hpp"

namespace primus::model {

// Bytes this rank sent to other ranks of the expert group (cumulative; the caller resets).
struct DispatchVolume {
  std::int64_t dispatch_hidden_bytes = 0;  // forward dispatch: hidden states of rows sent to other ranks
  std::int64_t remote_rows = 0;            // those rows (kept (token, expert) pairs + padding rows)
  std::int64_t total_bytes = 0;            // everything: dispatch, combine, backward, counts, probabilities
  std::int64_t forwards = 0;               // training forwards counted
};

class ExpertExchange {
 public:
  virtual ~ExpertExchange() = default;

  std::int64_t max_local_rows() const { return max_local_rows_; }
  std::int64_t local_experts() const { return local_experts_; }
  // The local plan (counts, offsets over the local experts, prob_of_row) of the micro-batch.
  DispatchPlan local_plan(const BlockCall& call) const;

  // Forward: this rank's tokens x [T, h] and plan -> rows of the local experts [Rl, h] (and the
  // local plan, in saved).
  virtual void dispatch(const BlockCall& call, const DispatchPlan& plan, const float* x, float* local_rows) = 0;
  // Local experts' outputs [Rl, h] -> y [T, h] (overwritten): each token's rows summed.
  virtual void combine(const BlockCall& call, const DispatchPlan& plan, const float* local_out, float* y) = 0;
  // Backward of combine: dy [T, h] -> d local_out [Rl, h].
  virtual void combine_backward(const BlockCall& call, const DispatchPlan& plan, const float* dy,
                                float* dlocal_out) = 0;
  // Backward of dispatch: d local_rows [Rl, h] and d prob per local row [Rl] -> dx [T, h]
  // (overwritten) and dprobs [T, k] (overwritten; 0 for dropped pairs).
  virtual void dispatch_backward(const BlockCall& call, const DispatchPlan& plan, const float* dlocal_rows,
                                 const float* dprob_local, float* dx, float* dprobs) = 0;

  DispatchVolume& volume() { return volume_; }

  // The exchange moe_token_dispatcher_type asks for, over ctx.parallel's expert group.
  static std::unique_ptr<ExpertExchange> create(const BuildContext& ctx, const TokenDispatcher& dispatcher,
                                                BufferPlan& saved, BufferPlan& scratch);

 protected:
  ExpertExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved);

  const ModelConfig& c_;
  const TokenDispatcher& dispatcher_;
  parallel::Communicator& ep_;
  int P_, me_;
  std::int64_t E_, local_experts_, k_, max_local_rows_;
  std::int64_t local_counts_, local_offsets_, local_prob_;  // saved
  DispatchVolume volume_;
};

}  // namespace primus::model
