// MoE token dispatch on one rank (Megatron's permute / unpermute around the grouped expert
// MLPs): each token's hidden state is copied once per chosen expert into a buffer sorted by
// expert (tokens in ascending order within an expert, as Megatron's routing-map permute), so
// each expert runs one dense GEMM over a contiguous block; afterwards the expert outputs are
// combined back per token, weighted by the router probabilities.
// Hand-written: index bookkeeping plus row gathers; every backward is written as a gather
// (never a scatter-add), so all of it is deterministic and parallel.
#pragma once

#include <cstdint>

namespace primus::kernels {

// The permutation for one routing decision, in caller-owned arrays:
//   counts  [experts]     tokens routed to each expert
//   offsets [experts + 1] start row of each expert's block (offsets[experts] = tokens*topk)
//   row_of  [tokens*topk] permuted row of (token t, choice j) at t*topk + j
//   token_of[tokens*topk] source token of each permuted row
struct MoePlan {
  std::int32_t* counts;
  std::int32_t* offsets;
  std::int32_t* row_of;
  std::int32_t* token_of;
};

// indices [tokens, topk] (from router_topk_forward; each in [0, experts), distinct per token).
void moe_plan(const std::int32_t* indices, std::int64_t tokens, std::int64_t topk,
              std::int64_t experts, const MoePlan& plan);

// x [tokens, hidden] -> permuted [tokens*topk, hidden]: permuted[r] = x[token_of[r]].
void moe_permute_forward(const float* x, const MoePlan& plan, std::int64_t tokens,
                         std::int64_t topk, std::int64_t hidden, float* permuted);
// dpermuted [tokens*topk, hidden] -> dx [tokens, hidden] (overwritten):
// dx[t] = sum_j dpermuted[row_of[t*topk + j]].
void moe_permute_backward(const float* dpermuted, const MoePlan& plan, std::int64_t tokens,
                          std::int64_t topk, std::int64_t hidden, float* dx);

// expert_out [tokens*topk, hidden], probs [tokens, topk] -> y [tokens, hidden] (overwritten):
// y[t] = sum_j probs[t, j] * expert_out[row_of[t*topk + j]].
void moe_unpermute_forward(const float* expert_out, const float* probs, const MoePlan& plan,
                           std::int64_t tokens, std::int64_t topk, std::int64_t hidden, float* y);
// dy [tokens, hidden] -> dexpert_out [tokens*topk, hidden] and dprobs [tokens, topk]
// (both overwritten): dexpert_out[row_of[t,j]] = probs[t,j] * dy[t];
// dprobs[t,j] = dot(dy[t], expert_out[row_of[t,j]]).
void moe_unpermute_backward(const float* dy, const float* expert_out, const float* probs,
                            const MoePlan& plan, std::int64_t tokens, std::int64_t topk,
                            std::int64_t hidden, float* dexpert_out, float* dprobs);

}  // namespace primus::kernels
