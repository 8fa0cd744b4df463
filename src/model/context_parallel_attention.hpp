// Core attention of a context-parallel group (TransformerEngine's cp_comm_type p2p, the ring
// attention Megatron-Core uses). Each CP rank holds chunks r and 2·cp−1−r of every sequence
// (parallel/context_parallel.hpp); its queries must see the keys/values of all earlier positions,
// which live on every rank. The K/V blocks travel around the ring (rank r sends to r+1, receives
// from r−1) while each rank computes with the block it has:
//   step 0, its own block:           causal attention over its two chunks (their order is global);
//   step i, block of rank j = r − i: j < r: both query chunks × chunk j (all earlier: no mask);
//                                    j > r: the late query chunk × both chunks of j (no mask).
// Every step is the same amount of work on every rank (the causal load balancing). The partial
// results of a query chunk are merged with their log-sum-exps (out = Σ e^(lse_i − lse) out_i,
// lse = log Σ e^lse_i), so the forward keeps only the final out and lse, as without CP.
// Backward runs the same ring: with the final out and lse the kernel yields each block's exact
// share of dq, dk and dv; dq accumulates here, and the dK/dV of each block travel with it, so
// that after cp steps plus one more hop every block's gradient is back at its owner, complete.
//
// With one CP rank this is the attention kernel itself. Transfers are non-blocking and overlap the
// computation of the current block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attention.hpp"
#include "model/block.hpp"
#include "model/buffer_plan.hpp"
#include "model/model_parallel.hpp"

namespace primus::model {

class ContextParallelAttention {
 public:
  // shape: this rank's attention (seq = its two chunks, causal); out must be packed
  // ([batch, seq, heads, v_head_dim]). Plans its scratch in `scratch`.
  ContextParallelAttention(const kernels::AttentionShape& shape, const ModelParallel& parallel, BufferPlan& scratch);

  void forward(const BlockCall& call, const float* q, const float* k, const float* v, float* out, float* lse) const;
  // dq, dk, dv are overwritten (strides of q, k, v).
  void backward(const BlockCall& call, const float* q, const float* k, const float* v, const float* out,
                const float* lse, const float* dout, float* dq, float* dk, float* dv) const;

 private:
  // The kernel's shape for one query chunk × one key/value chunk (non-causal, views inside the
  // rank's two chunks), with K/V in the ring's packed layout.
  kernels::AttentionShape chunk_shape() const;
  // First sequence index of chunk 0 (the early one) or 1 (the late one) on this rank.
  std::int64_t chunk_rows(int chunk) const { return chunk * chunk_; }

  kernels::AttentionShape shape_;
  const ModelParallel& mp_;
  std::int64_t chunk_ = 0;      // tokens of one chunk (seq / 2)
  std::int64_t kv_width_ = 0;   // ring layout: [k groups | v groups] per token
  std::size_t ws_floats_ = 0;
  // Scratch offsets.
  std::int64_t ws_, kv_[2], dkv_[2], dkv_part_, dq_part_, out_part_, lse_part_;
};

}  // namespace primus::model
