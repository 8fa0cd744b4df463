// Expert tensor parallelism (expert_tensor_parallel_size = Q > 1), as Megatron-Core's MoE layer with
// TP for experts: each local expert is split over the Q ranks of the expert-tensor-parallel group
// (fc1 column-parallel — SwiGLU's [gate_r; up_r] — and fc2 row-parallel, moe_ffn_hidden_size / Q
// each). The rows the dispatcher brought to this rank are all-gathered over the group (with their
// probabilities; Megatron's gather_from_sequence_parallel_region after the token permutation), the
// sharded experts run on every row of the group, and their partial outputs are reduce-scattered back
// to the rows' rank (summed over the group in rank order: deterministic). Backward: the output
// gradient is gathered, the input and probability gradients are reduce-scattered.
//
// Gathered rows are expert-major, then by group rank, then in the rank's order. Both directions use
// all-to-all-v (the per-rank row counts differ), counts exchanged first.
#pragma once

#include <vector>

#include "model/block.hpp"
#include "model/moe/token_dispatcher.hpp"

namespace primus::model {

class ExpertTensorParallel {
 public:
  // max_rows_in: the bound on the rows the dispatcher brings to this rank (local experts' rows).
  ExpertTensorParallel(const BuildContext& ctx, std::int64_t local_experts, std::int64_t max_rows_in,
                       BufferPlan& saved, BufferPlan& scratch);

  std::int64_t max_rows() const { return max_rows_; }
  // The gathered plan (counts, offsets over the local experts, prob_of_row) of the micro-batch.
  DispatchPlan plan(const BlockCall& call) const;

  // in: this rank's plan over the local experts and rows [Rin, h] -> gathered rows [Rg, h].
  void gather(const BlockCall& call, const DispatchPlan& in, const float* rows, float* gathered);
  // Partial outputs [Rg, h] -> this rank's rows [Rin, h], summed over the group.
  void reduce_scatter(const BlockCall& call, const float* partial, float* out);
  // Backward: d out [Rin, h] -> gathered [Rg, h].
  void gather_grad(const BlockCall& call, const float* dout, float* gathered);
  // Backward: partial d rows [Rg, h] and d prob [Rg] -> this rank's [Rin, h] and [Rin].
  void reduce_scatter_grad(const BlockCall& call, const float* drows, const float* dprob, float* drows_in,
                           float* dprob_in);

 private:
  void layout(const BlockCall& call);
  // This rank's rows to every group rank; received rank-major into src_, then expert-major into out.
  void allgather_rows(const float* in, float* out, std::int64_t w, std::int64_t n_in, float* src);
  // Expert-major [Rg, w] -> rank-major, each rank's chunk to its rank; summed over the senders.
  void reduce_scatter_rows(const BlockCall& call, const float* in, float* out, std::int64_t w);

  const ModelConfig& c_;
  parallel::Communicator& etp_;
  int Q_, me_;
  std::int64_t El_, max_in_, max_rows_;
  std::int64_t counts_, plan_counts_, plan_offsets_, plan_prob_;  // saved
  std::int64_t src_, src_prob_, sums_;                             // scratch
  std::vector<std::int64_t> first_, rows_, chunk_src_, chunk_exp_, chunk_n_;
  std::vector<int> sc_, so_, rc_, ro_;
};

}  // namespace primus::model
