// Megatron-Core's RankGenerator (parallel_state.py): ranks are laid out on an N-dimensional grid
// whose axes are the parallelism kinds named in an order string such as "tp-cp-ep-dp-pp"; the
// leftmost axis varies fastest (rank = tp + TP·(cp + CP·(ep + EP·(dp + DP·pp))) by default). A
// group of kind "dp" (or "tp-dp", ...) holds the ranks that differ only along those axes.
//
// get_ranks(token) lists every group of that kind in Megatron's order: groups are numbered by
// their fixed coordinates (the unmasked axes, leftmost fastest), ranks inside a group by their
// varying coordinates (the masked axes, leftmost fastest). Axes missing from the order string are
// appended with size 1; an axis of size > 1 that the order does not name is an error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace primus::parallel {

using RankGroups = std::vector<std::vector<int>>;

class RankGenerator {
 public:
  RankGenerator(int tp, int ep, int dp, int pp, int cp, std::string_view order);

  // Every group of the given kind ("tp", "dp-cp", "tp-ep-pp", ...), tokens in any order.
  RankGroups get_ranks(std::string_view token) const;

  int world_size() const { return world_; }
  const std::string& order() const { return order_; }

 private:
  std::vector<std::string> axes_;  // full order, missing axes appended
  std::vector<int> sizes_;         // size of each axis
  std::string order_;
  int world_ = 1;
};

// The grid algorithm on its own (Megatron's generate_masked_orthogonal_rank_groups): `sizes` are
// the axis sizes (fastest first), `mask` selects the varying axes.
RankGroups masked_orthogonal_rank_groups(int world_size, const std::vector<int>& sizes, const std::vector<bool>& mask);

}  // namespace primus::parallel
