// Checkpoint piece geometry: element ranges of sharded local tensors become regions of the
// global tensor, and any set of pieces that partitions a tensor fills any other shard of it.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "checkpoint/tensor_region.hpp"
#include "core/error.hpp"
#include "model/weights_io.hpp"

namespace primus::checkpoint {
namespace {

using model::ParamInfo;

// A [rows, cols] parameter whose local slice is the given row ranges and column block.
ParamInfo sharded(std::int64_t rows, std::int64_t cols, std::vector<RowRange> row_ranges, std::int64_t col_begin,
                  std::int64_t local_cols) {
  ParamInfo p;
  p.name = std::string("weight");
  p.global_rows = rows;
  p.global_cols = cols;
  p.shard.rows = std::move(row_ranges);
  p.shard.col_begin = col_begin;
  p.rows = 0;
  for (const auto& r : p.shard.rows) p.rows += r.count;
  if (p.shard.rows.empty()) p.rows = rows;
  p.cols = local_cols;
  return p;
}

std::vector<float> iota_global(std::int64_t n) {
  std::vector<float> g(static_cast<size_t>(n));
  std::iota(g.begin(), g.end(), 1.0f);
  return g;
}

TEST(TensorRegion, ElementRangesMapToTheGlobalElements) {
  // QKV-like interleaved rows, a column block: the hardest local-to-global map.
  const ParamInfo p = sharded(12, 7, {{2, 2}, {8, 3}, {5, 1}}, 2, 4);
  const std::vector<float> global = iota_global(12 * 7);
  std::vector<float> local(static_cast<size_t>(p.numel()));
  model::global_to_local(p, global.data(), local.data());
  const Region whole = whole_region(12, 7);
  for (std::int64_t a = 0; a <= p.numel(); ++a)
    for (std::int64_t b = a; b <= p.numel(); ++b) {
      std::vector<float> out(global.size(), 0.0f);
      std::int64_t copied = 0;
      const auto blocks = element_range_blocks(p, a, b);
      EXPECT_LE(blocks.size(), 3u);
      for (const LocalBlock& blk : blocks) {
        EXPECT_EQ(blk.region.numel(), intersection_size(blk.region, whole));
        copied += copy_intersection(blk.region, local.data() + blk.local_offset, whole, out.data());
      }
      ASSERT_EQ(copied, b - a) << a << ".." << b;
      // Exactly local elements [a, b) landed, at their global places.
      std::vector<float> back(local.size(), 0.0f);
      model::global_to_local(p, out.data(), back.data());
      for (std::int64_t e = 0; e < p.numel(); ++e)
        ASSERT_EQ(back[static_cast<size_t>(e)], (e >= a && e < b) ? local[static_cast<size_t>(e)] : 0.0f) << a << ".." << b;
    }
}

TEST(TensorRegion, PiecesOfOneLayoutFillTheShardsOfAnother) {
  std::mt19937 gen(7);
  const std::int64_t R = 10, C = 6;
  const std::vector<float> global = iota_global(R * C);
  // Writer layout: two "ranks" hold row halves; each splits its local tensor into element ranges
  // at a random point (ZeRO-1 shards over the flat buffer).
  std::vector<std::pair<Region, std::vector<float>>> pieces;
  std::vector<Region> regions;
  for (const ParamInfo& p : {sharded(R, C, {{0, 4}}, 0, C), sharded(R, C, {{4, 6}}, 0, C)}) {
    std::vector<float> local(static_cast<size_t>(p.numel()));
    model::global_to_local(p, global.data(), local.data());
    const std::int64_t cut = std::uniform_int_distribution<std::int64_t>(0, p.numel())(gen);
    for (auto [a, b] : {std::pair{std::int64_t{0}, cut}, std::pair{cut, p.numel()}})
      for (const LocalBlock& blk : element_range_blocks(p, a, b)) {
        pieces.emplace_back(blk.region, std::vector<float>(local.begin() + blk.local_offset,
                                                           local.begin() + blk.local_offset + blk.region.numel()));
        regions.push_back(blk.region);
      }
  }
  EXPECT_EQ(check_partition(regions, R, C), "");
  // Reader layout: a column shard and an interleaved-row shard.
  for (const ParamInfo& q : {sharded(R, C, {}, 3, 3), sharded(R, C, {{7, 3}, {1, 2}}, 1, 4)}) {
    const Region target = local_region(q);
    std::vector<float> got(static_cast<size_t>(q.numel()), -1.0f), want(got.size());
    std::int64_t copied = 0;
    for (const auto& [region, data] : pieces) copied += copy_intersection(region, data.data(), target, got.data());
    model::global_to_local(q, global.data(), want.data());
    EXPECT_EQ(copied, q.numel());
    EXPECT_EQ(got, want);
  }
}

TEST(TensorRegion, PartitionCheckNamesOverlapsGapsAndBounds) {
  Region a = whole_region(4, 2), top, bottom;
  top.rows = {{0, 2}};
  top.cols = 2;
  bottom.rows = {{2, 2}};
  bottom.cols = 2;
  EXPECT_EQ(check_partition({a}, 4, 2), "");
  EXPECT_EQ(check_partition({top, bottom}, 4, 2), "");
  EXPECT_NE(check_partition({top}, 4, 2).find("4 of the tensor"), std::string::npos);
  EXPECT_NE(check_partition({top, a}, 4, 2).find("overlap"), std::string::npos);
  Region outside = bottom;
  outside.rows = {{3, 2}};
  EXPECT_NE(check_partition({top, outside}, 4, 2).find("outside"), std::string::npos);
  Region repeated = top;
  repeated.rows = {{0, 2}, {1, 1}};
  EXPECT_NE(check_partition({repeated}, 4, 2).find("repeats"), std::string::npos);
  // 1-D tensors are [n, 1].
  EXPECT_EQ(check_partition({whole_region(5, 0)}, 5, 0), "");
}

TEST(TensorRegion, JsonRoundTripAndMalformedPieces) {
  Region r;
  r.rows = {{4, 2}, {0, 1}};
  r.col_begin = 3;
  r.cols = 5;
  EXPECT_EQ(region_from_json(region_to_json(r), "x"), r);
  EXPECT_THROW(region_from_json(nlohmann::json::parse(R"({"rows": [], "cols": [0, 1]})"), "x"), Error);
  EXPECT_THROW(region_from_json(nlohmann::json::parse(R"({"rows": [[0]], "cols": [0, 1]})"), "x"), Error);
  EXPECT_THROW(region_from_json(nlohmann::json::parse(R"({"rows": [[0, 1]]})"), "x"), Error);
}

}  // namespace
}  // namespace primus::checkpoint
