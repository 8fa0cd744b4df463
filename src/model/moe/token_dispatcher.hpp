// Megatron-Core's MoE token dispatcher on one rank: decides which (token, expert) pairs are kept
// (expert capacity), sorts the kept pairs by expert into contiguous row blocks (tokens ascending
// within an expert, as Megatron's routing-map permute), copies each token's hidden state into its
// rows, and after the experts sums each token's rows back (the routing probabilities are applied
// inside the experts, after the activation, as Megatron's experts do).
//
// Capacity (moe_expert_capacity_factor cf >= 0): cap = ceil(T·k / E · cf); each expert keeps at
// most cap of the tokens routed to it — those with the highest probabilities (drop policy
// probs) or the earliest ones (position), "earliest" and ties in Megatron's token order
// (position-major: position · batch + sample), which is what its [s, b] layout gives. moe_pad_expert_input_to_
// capacity gives every expert exactly min(cap, T) rows, filling with tokens not routed to it
// (lowest index first) whose probability is 0, as Megatron's capacity mask does.
//
// Rows: at most max(T·k, E·min(cap, T)) — planned once, whatever the routing.
// Hand-written: index bookkeeping and row gathers; every backward is a gather (never a
// scatter-add), so results are deterministic for any thread count.
#pragma once

#include <cstdint>

#include "model/block.hpp"

namespace primus::model {

// The plan of one micro-batch (arrays live in the layer's saved activations).
struct DispatchPlan {
  std::int32_t* counts;        // [E] rows per expert
  std::int32_t* offsets;       // [E + 1]
  std::int32_t* token_of_row;  // [R_max]
  std::int32_t* slot_of_row;   // [R_max] t·k + j, or -1 for a padding row
  float* prob_of_row;          // [R_max]
  std::int32_t* row_of_slot;   // [T·k] row, or -1 when the capacity dropped the pair
  std::int32_t* token_begin;   // [T + 1] each token's rows, ascending: token_rows[token_begin[t] ..]
  std::int32_t* token_rows;    // [R_max]
};

class TokenDispatcher {
 public:
  TokenDispatcher(const BuildContext& ctx, BufferPlan& saved);

  std::int64_t max_rows() const { return max_rows_; }
  std::int64_t capacity() const { return cap_; }  // per expert; -1: dropless
  bool padded() const { return cap_ >= 0 && c_.moe.pad_to_capacity; }
  // Routing [T, k] -> the plan (in saved). Returns the number of rows.
  std::int64_t plan(const BlockCall& call, const std::int32_t* indices, const float* probs) const;
  DispatchPlan view(const BlockCall& call) const;

  // x [T, h] -> rows [R, h].
  void permute(const BlockCall& call, const float* x, float* rows) const;
  // rows [R, h] -> y [T, h] (overwritten): y[t] = Σ of t's rows.
  void unpermute(const BlockCall& call, const float* rows, float* y) const;
  // dy [T, h] -> drows [R, h]: drows[r] = dy[token_of_row[r]] (the unpermute's backward).
  void unpermute_backward(const BlockCall& call, const float* dy, float* drows) const;
  // drows [R, h] -> dx [T, h] (overwritten): dx[t] = Σ of t's rows.
  void permute_backward(const BlockCall& call, const float* drows, float* dx) const;

 private:
  const ModelConfig& c_;
  std::int64_t E_, k_, cap_, max_rows_;
  std::int64_t counts_, offsets_, token_of_row_, slot_of_row_, prob_of_row_, row_of_slot_, token_begin_,
      token_rows_, starts_;
};

}  // namespace primus::model
