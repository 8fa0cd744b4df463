// Context parallelism's load-balanced split (Megatron's get_batch_on_this_cp_rank): rank r holds
// chunks r and 2·cp−1−r of each sequence, in that order; the positions are those chunks' global
// positions, and the ranks together hold every position exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "parallel/context_parallel.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

TEST(ContextParallelSplit, RankHoldsChunksRAndTheirMirror) {
  EXPECT_EQ(context_parallel_positions(16, 2, 0), (std::vector<std::int32_t>{0, 1, 2, 3, 12, 13, 14, 15}));
  EXPECT_EQ(context_parallel_positions(16, 2, 1), (std::vector<std::int32_t>{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(context_parallel_positions(16, 4, 0), (std::vector<std::int32_t>{0, 1, 14, 15}));
  EXPECT_EQ(context_parallel_positions(16, 4, 1), (std::vector<std::int32_t>{2, 3, 12, 13}));
  EXPECT_EQ(context_parallel_positions(16, 4, 3), (std::vector<std::int32_t>{6, 7, 8, 9}));
  std::vector<std::int32_t> one = context_parallel_positions(6, 1, 0);
  EXPECT_EQ(one, (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}));
}

TEST(ContextParallelSplit, RanksCoverEveryPositionOnce) {
  for (const int cp : {2, 3, 4, 8}) {
    const std::int64_t seq = 2 * cp * 5;
    std::vector<int> seen(static_cast<size_t>(seq), 0);
    for (int r = 0; r < cp; ++r) {
      const auto p = context_parallel_positions(seq, cp, r);
      ASSERT_EQ(static_cast<std::int64_t>(p.size()), seq / cp);
      EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));  // local order is global order (causal step 0)
      for (const auto x : p) ++seen[static_cast<size_t>(x)];
    }
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; })) << "cp " << cp;
  }
}

TEST(ContextParallelSplit, SliceTakesThePositionsRowsOfEverySample) {
  const std::int64_t batch = 2, seq = 12, width = 3;
  const int cp = 3;
  std::vector<float> full(static_cast<size_t>(batch * seq * width));
  for (size_t i = 0; i < full.size(); ++i) full[i] = static_cast<float>(i);
  for (int r = 0; r < cp; ++r) {
    std::vector<float> local(static_cast<size_t>(batch * seq / cp * width), -1.0f);
    context_parallel_slice(full.data(), local.data(), batch, seq, width, cp, r);
    const auto pos = context_parallel_positions(seq, cp, r);
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t s = 0; s < seq / cp; ++s)
        for (std::int64_t c = 0; c < width; ++c)
          EXPECT_EQ(local[static_cast<size_t>((b * (seq / cp) + s) * width + c)],
                    full[static_cast<size_t>((b * seq + pos[static_cast<size_t>(s)]) * width + c)])
              << "rank " << r << " b " << b << " s " << s;
  }
}

TEST(ContextParallelSplit, RefusesSequencesThatDoNotSplitIntoChunks) {
  EXPECT_THROW(context_parallel_positions(18, 2, 0), Error);
  EXPECT_THROW(context_parallel_positions(16, 2, 2), Error);
}

}  // namespace
