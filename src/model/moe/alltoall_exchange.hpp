// Megatron-Core's MoEAlltoAllTokenDispatcher across the expert-model-parallel group:
//   1. the per-expert row counts of every rank are all-to-all'd (each owner learns how many rows of
//      each source it receives for each of its experts);
//   2. the expert-major rows (TokenDispatcher::permute) and their probabilities are all-to-all'd to
//      the owners (rows for rank j's experts are contiguous), arriving source-major;
//   3. they are regrouped expert-major (sort_chunks_by_idxs) for the local experts;
//   4. the experts' outputs are regrouped source-major and all-to-all'd back, then unpermuted
//      (each token's rows summed) by the TokenDispatcher.
// Backward runs the same exchanges in reverse; the probability gradients travel back with the rows.
#pragma once

#include <vector>

#include "model/moe/expert_exchange.hpp"

namespace primus::model {

class AllToAllExchange final : public ExpertExchange {
 public:
  AllToAllExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved, BufferPlan& scratch);

  void dispatch(const BlockCall& call, const DispatchPlan& plan, const float* x, float* local_rows) override;
  void combine(const BlockCall& call, const DispatchPlan& plan, const float* local_out, float* y) override;
  void combine_backward(const BlockCall& call, const DispatchPlan& plan, const float* dy, float* dlocal_out) override;
  void dispatch_backward(const BlockCall& call, const DispatchPlan& plan, const float* dlocal_rows,
                         const float* dprob_local, float* dx, float* dprobs) override;

 private:
  // Row counts and offsets of both directions for this micro-batch (from the plan and the saved
  // counts matrix), and the chunk offsets of the source-major and expert-major orders.
  void layout(const BlockCall& call, const DispatchPlan& plan);
  // (count: add to the volume — training passes only)
  // rows sent to the owners (dispatch direction) -> received source-major, width w per row.
  void to_owners(const float* send, float* recv, std::int64_t w, bool count);
  // source-major rows at the owners -> back to the sources' expert-major order, width w per row.
  void to_sources(const float* send, float* recv, std::int64_t w, bool count);
  void source_to_expert_major(const float* in, float* out, std::int64_t w) const;
  void expert_to_source_major(const float* in, float* out, std::int64_t w) const;
  std::int64_t sent_bytes(std::int64_t w, bool to_owners) const;

  std::int64_t recv_counts_;           // saved [P · E/P] int: rows from source s for local expert le
  std::int64_t rows_, rows_prob_;      // scratch [R, h], [R]: this rank's rows in its own order
  std::int64_t src_rows_, src_prob_;   // scratch [Rl, h], [Rl]: rows at the owner, source-major
  // Per micro-batch (recomputed by layout()): rows to/from each peer and the chunk offsets.
  std::vector<std::int64_t> send_rows_, send_first_, recv_rows_, recv_first_;
  std::vector<std::int64_t> chunk_src_, chunk_exp_, chunk_n_;  // [s · E/P + le]: offset in each order, rows
  std::vector<int> counts_, offsets_, rcounts_, roffsets_;
};

}  // namespace primus::model
