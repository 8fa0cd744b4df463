// Process groups against an independent computation of Megatron-Core's rule, written here from
// its definition (megatron-engine.md §2) rather than from the generator: every rank's coordinates
// come from decomposing the rank on the grid (leftmost axis fastest); a group of kind K holds the
// ranks whose coordinates agree outside K; groups are numbered by their fixed coordinates
// (leftmost fastest) and list their ranks ascending. Checked over a sweep of layouts, plus
// Megatron's own documented examples as literals.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "parallel/process_groups.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

// The grid of one generator: axis names in order and their sizes.
struct Grid {
  std::vector<std::string> axes;
  std::vector<int> sizes;
};

Grid dense_grid(const ParallelSizes& s) {
  if (s.tp_pp_dp_order) return {{"tp", "cp", "pp", "dp"}, {s.tp, s.cp, s.pp, s.dp()}};
  return {{"tp", "cp", "dp", "pp"}, {s.tp, s.cp, s.dp(), s.pp}};
}
Grid expert_grid(const ParallelSizes& s) {
  if (s.tp_pp_dp_order) return {{"tp", "ep", "pp", "dp"}, {s.etp, s.ep, s.pp, s.edp()}};
  return {{"tp", "ep", "dp", "pp"}, {s.etp, s.ep, s.edp(), s.pp}};
}

std::vector<int> coords_of(const Grid& g, int rank) {
  std::vector<int> c;
  for (int size : g.sizes) {
    c.push_back(rank % size);
    rank /= size;
  }
  return c;
}

// Groups of the axes in `kind` (e.g. {"tp", "dp"}), by the rule stated at the top.
RankGroups reference_groups(const Grid& g, int world, const std::vector<std::string>& kind) {
  std::map<int, std::vector<int>> by_index;
  for (int r = 0; r < world; ++r) {
    const auto c = coords_of(g, r);
    int index = 0, radix = 1;
    for (std::size_t a = 0; a < g.axes.size(); ++a) {
      if (std::find(kind.begin(), kind.end(), g.axes[a]) != kind.end()) continue;
      index += c[a] * radix;
      radix *= g.sizes[a];
    }
    by_index[index].push_back(r);  // r ascends, so each group lists its ranks ascending
  }
  RankGroups out;
  for (auto& [i, ranks] : by_index) out.push_back(ranks);
  return out;
}

int position(const RankGroups& groups, int rank) {
  for (const auto& g : groups)
    for (std::size_t i = 0; i < g.size(); ++i)
      if (g[i] == rank) return static_cast<int>(i);
  return -1;
}

void expect_matches_reference(const ParallelSizes& s, const EmbeddingPlacement& e = {}) {
  SCOPED_TRACE("world " + std::to_string(s.world) + " tp " + std::to_string(s.tp) + " cp " + std::to_string(s.cp) +
               " pp " + std::to_string(s.pp) + " ep " + std::to_string(s.ep) + " etp " + std::to_string(s.etp) +
               " order " + s.order());
  const ProcessGroups pg(s, e);
  const Grid d = dense_grid(s), x = expert_grid(s);
  const int w = s.world;
  const std::pair<GroupKind, RankGroups> expected[] = {
      {GroupKind::DataParallelWithCp, reference_groups(d, w, {"dp", "cp"})},
      {GroupKind::DataParallel, reference_groups(d, w, {"dp"})},
      {GroupKind::ContextParallel, reference_groups(d, w, {"cp"})},
      {GroupKind::ModelParallel, reference_groups(d, w, {"tp", "pp"})},
      {GroupKind::TensorParallel, reference_groups(d, w, {"tp"})},
      {GroupKind::PipelineParallel, reference_groups(d, w, {"pp"})},
      {GroupKind::TensorAndDataParallelWithCp, reference_groups(d, w, {"tp", "dp", "cp"})},
      {GroupKind::TensorAndDataParallel, reference_groups(d, w, {"tp", "dp"})},
      {GroupKind::TensorAndContextParallel, reference_groups(d, w, {"tp", "cp"})},
      {GroupKind::ExpertModelParallel, reference_groups(x, w, {"ep"})},
      {GroupKind::ExpertTensorParallel, reference_groups(x, w, {"tp"})},
      {GroupKind::ExpertTensorAndModelParallel, reference_groups(x, w, {"tp", "ep"})},
      {GroupKind::ExpertTensorModelPipeline, reference_groups(x, w, {"tp", "ep", "pp"})},
      {GroupKind::ExpertDataParallel, reference_groups(x, w, {"dp"})},
  };
  for (const auto& [kind, groups] : expected) EXPECT_EQ(pg.groups(kind), groups) << group_name(kind);
  // Embedding groups: first (and last, when tied or with MTP) rank of every pipeline group.
  const RankGroups pp = reference_groups(d, w, {"pp"});
  RankGroups emb, pos;
  for (const auto& g : pp) {
    emb.push_back(g.size() > 1 && (e.tied || e.mtp) ? std::vector<int>{g.front(), g.back()} : std::vector<int>{g.front()});
    pos.push_back({g.front()});
  }
  EXPECT_EQ(pg.groups(GroupKind::Embedding), emb);
  EXPECT_EQ(pg.groups(GroupKind::PositionEmbedding), pos);
  for (int r = 0; r < w; ++r) {
    const RankCoordinates c = pg.coordinates(r);
    const auto dc = coords_of(d, r), xc = coords_of(x, r);
    auto axis = [](const Grid& g, const std::vector<int>& cc, const char* name) {
      return cc[static_cast<std::size_t>(std::find(g.axes.begin(), g.axes.end(), name) - g.axes.begin())];
    };
    EXPECT_EQ(c.tp, axis(d, dc, "tp"));
    EXPECT_EQ(c.cp, axis(d, dc, "cp"));
    EXPECT_EQ(c.dp, axis(d, dc, "dp"));
    EXPECT_EQ(c.pp, axis(d, dc, "pp"));
    EXPECT_EQ(c.ep, axis(x, xc, "ep"));
    EXPECT_EQ(c.expert_tp, axis(x, xc, "tp"));
    EXPECT_EQ(c.expert_dp, axis(x, xc, "dp"));
    // Coordinates are the positions in the groups, as Megatron's get_*_rank() returns them.
    EXPECT_EQ(c.dp, position(pg.groups(GroupKind::DataParallel), r));
    EXPECT_EQ(c.expert_dp, position(pg.groups(GroupKind::ExpertDataParallel), r));
    for (GroupKind k : all_group_kinds()) {
      const auto* g = pg.group_of(k, r);
      if (k == GroupKind::Embedding || k == GroupKind::PositionEmbedding) continue;
      ASSERT_NE(g, nullptr) << group_name(k);
      EXPECT_NE(std::find(g->begin(), g->end(), r), g->end());
    }
  }
}

std::vector<int> divisors(int n) {
  std::vector<int> d;
  for (int i = 1; i <= n; ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

TEST(ProcessGroups, SweepOfLayoutsMatchesMegatronsRule) {
  int layouts = 0;
  for (int world : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64}) {
    for (int tp : divisors(world))
      for (int cp : divisors(world / tp))
        for (int pp : divisors(world / (tp * cp))) {
          for (int ep : divisors(world / pp))
            for (int etp : divisors(world / (pp * ep))) {
              if (etp != tp && etp != 1) continue;  // keep the sweep to the layouts users run
              for (bool tp_pp_dp : {false, true}) {
                ParallelSizes s{world, tp, pp, cp, ep, etp, tp_pp_dp};
                if (tp_pp_dp && pp > 1 && s.edp() != s.dp()) {
                  EXPECT_THROW(ProcessGroups{s}, Error);
                  continue;
                }
                expect_matches_reference(s);
                ++layouts;
                if (HasFailure()) return;
              }
            }
        }
  }
  EXPECT_GT(layouts, 1000);
}

TEST(ProcessGroups, EmbeddingGroupsFollowPretrainGpt) {
  const ParallelSizes s{8, 1, 4, 1, 1, 1, false};
  expect_matches_reference(s, EmbeddingPlacement{true, false});
  expect_matches_reference(s, EmbeddingPlacement{false, false});
  expect_matches_reference(s, EmbeddingPlacement{false, true});
  const ProcessGroups untied(s, EmbeddingPlacement{false, false});
  EXPECT_EQ(untied.groups(GroupKind::Embedding), (RankGroups{{0}, {1}}));
  const ProcessGroups tied(s, EmbeddingPlacement{true, false});
  EXPECT_EQ(tied.groups(GroupKind::Embedding), (RankGroups{{0, 6}, {1, 7}}));
}

// initialize_model_parallel's docstring: 16 GPUs, tensor 2, pipeline 4.
TEST(ProcessGroups, MegatronDocstringExample) {
  const ProcessGroups pg(ParallelSizes{16, 2, 4, 1, 1, 2, false});
  EXPECT_EQ(pg.groups(GroupKind::DataParallel),
            (RankGroups{{0, 2}, {1, 3}, {4, 6}, {5, 7}, {8, 10}, {9, 11}, {12, 14}, {13, 15}}));
  EXPECT_EQ(pg.groups(GroupKind::TensorParallel),
            (RankGroups{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {12, 13}, {14, 15}}));
  EXPECT_EQ(pg.groups(GroupKind::PipelineParallel),
            (RankGroups{{0, 4, 8, 12}, {1, 5, 9, 13}, {2, 6, 10, 14}, {3, 7, 11, 15}}));
}

// generate_masked_orthogonal_rank_groups' docstring: sizes [tp 2, dp 3, pp 4], the dp groups.
TEST(ProcessGroups, MaskedOrthogonalDocstringExample) {
  const RankGroups dp = masked_orthogonal_rank_groups(24, {2, 3, 4}, {false, true, false});
  ASSERT_EQ(dp.size(), 8u);
  EXPECT_EQ(dp[0], (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(dp[1], (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(dp[7], (std::vector<int>{19, 21, 23}));
}

TEST(ProcessGroups, ExpertLayoutCarvesExpertsOutOfDataParallelRanks) {
  // 8 ranks, tensor 2, expert 2 (expert tensor defaults to 2): expert data-parallel size 2.
  const ProcessGroups pg(ParallelSizes{8, 2, 1, 1, 2, 2, false});
  EXPECT_EQ(pg.sizes().dp(), 4);
  EXPECT_EQ(pg.sizes().edp(), 2);
  EXPECT_EQ(pg.groups(GroupKind::ExpertModelParallel), (RankGroups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(pg.groups(GroupKind::ExpertDataParallel), (RankGroups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(pg.groups(GroupKind::ExpertTensorAndModelParallel), (RankGroups{{0, 1, 2, 3}, {4, 5, 6, 7}}));
}

TEST(ProcessGroups, InvalidLayoutsFailNamingTheSizes) {
  try {
    ProcessGroups pg(ParallelSizes{6, 4, 1, 1, 1, 4, false});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("world size 6 is not divisible by tensor × context × pipeline"),
              std::string::npos)
        << e.what();
  }
  try {
    ProcessGroups pg(ParallelSizes{8, 1, 2, 1, 2, 1, true});  // expert dp 2 != dp 4
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use_tp_pp_dp_mapping"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RankGenerator(2, 1, 1, 1, 1, "cp-dp-pp"), Error);  // tp of size 2 not in the order
  EXPECT_THROW(RankGenerator(1, 1, 1, 1, 1, "tp-xx"), Error);
}

}  // namespace
