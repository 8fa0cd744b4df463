// Which parts of the flat buffers this rank's optimizer updates (Megatron-Core's
// DistributedOptimizer shard ranges, ZeRO-1): with the distributed optimizer, data-parallel rank r
// owns [begin + r·S/dp, begin + (r+1)·S/dp) of every bucket of size S (param_and_grad_buffer.hpp),
// ignoring parameter boundaries; it keeps optimizer state only for the parameter elements there,
// receives their reduced gradients by reduce-scatter and all-gathers its updated parameters.
// Without it every rank updates every parameter whole.
//
// The result is a list of pieces (a parameter index and a sub-range of its elements), which the
// optimizer turns into its update ranges with each parameter's weight-decay and grad-norm flags.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/param_and_grad_buffer.hpp"

namespace primus::parallel {

struct ParamPiece {
  int param = 0;                    // index into buffer.params()
  std::int64_t begin = 0, end = 0;  // [begin, end) in the flat buffers, inside that parameter
  std::int64_t numel() const { return end - begin; }
};

// The pieces this rank updates. dp_rank_of_region[i]: this rank's position in region i's
// data-parallel group. Without the distributed optimizer: every parameter, whole.
std::vector<ParamPiece> optimizer_pieces(const ParamAndGradBuffer& buffer, const std::vector<int>& dp_rank_of_region);

}  // namespace primus::parallel
