// The pipeline schedules' order of forward/backward steps per rank against tables computed
// independently here: hand-written cases, and for the interleaved schedule with the default
// group size (N = pp) Megatron's older closed form of the chunk/micro-batch of virtual step k.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "parallel/pipeline_schedule.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

TEST(PipelineSchedule, OneFOneBByHand) {
  EXPECT_EQ(describe(schedule_1f1b(4, 0, 6)), "F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5");
  EXPECT_EQ(describe(schedule_1f1b(4, 2, 6)), "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 B5");
  EXPECT_EQ(describe(schedule_1f1b(4, 3, 6)), "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5");
  EXPECT_EQ(describe(schedule_1f1b(4, 0, 2)), "F0 F1 B0 B1");  // fewer micro-batches than stages
  EXPECT_EQ(describe(schedule_1f1b(1, 0, 3)), "F0 B0 F1 B1 F2 B2");
}

TEST(PipelineSchedule, OneFOneBHoldsAtMostPpMinusRankActivations) {
  for (std::int64_t pp : {2, 4, 8})
    for (std::int64_t rank = 0; rank < pp; ++rank)
      for (std::int64_t m : {1, 3, 8, 16}) {
        const auto s = schedule_1f1b(pp, rank, m);
        EXPECT_EQ(static_cast<std::int64_t>(s.size()), 2 * m);
        EXPECT_LE(max_in_flight(s, 1), std::min(pp - rank, m)) << pp << " " << rank << " " << m;
      }
}

// Megatron's original interleaved schedule (group size = pp): virtual step k runs chunk
// (k mod (pp·V)) / pp of micro-batch (k / (pp·V))·pp + k mod pp; backward the chunk V−1−c.
std::vector<PipelineAction> closed_form(std::int64_t pp, std::int64_t rank, std::int64_t M, std::int64_t V) {
  using K = PipelineAction::Kind;
  auto chunk = [&](std::int64_t k) { return (k % (pp * V)) / pp; };
  auto mb = [&](std::int64_t k) { return (k / (pp * V)) * pp + k % pp; };
  const std::int64_t total = M * V;
  const std::int64_t warmup = std::min((pp - rank - 1) * 2 + (V - 1) * pp, total);
  std::vector<PipelineAction> out;
  for (std::int64_t k = 0; k < warmup; ++k) out.push_back({K::Forward, mb(k), chunk(k)});
  for (std::int64_t k = 0; k + warmup < total; ++k) {
    out.push_back({K::Forward, mb(k + warmup), chunk(k + warmup)});
    out.push_back({K::Backward, mb(k), V - 1 - chunk(k)});
  }
  for (std::int64_t k = total - warmup; k < total; ++k) out.push_back({K::Backward, mb(k), V - 1 - chunk(k)});
  return out;
}

TEST(PipelineSchedule, InterleavedMatchesMegatronsClosedForm) {
  for (std::int64_t pp : {2, 4})
    for (std::int64_t V : {2, 3})
      for (std::int64_t groups : {1, 2, 3})
        for (std::int64_t rank = 0; rank < pp; ++rank) {
          const std::int64_t M = pp * groups;
          EXPECT_EQ(schedule_interleaved(pp, rank, M, V, pp), closed_form(pp, rank, M, V))
              << "pp " << pp << " V " << V << " M " << M << " rank " << rank;
        }
}

TEST(PipelineSchedule, InterleavedGroupsByHand) {
  // pp 2, V 2, M 5, group 3: the table is (0,0) (1,0) (2,0) (0,1) (1,1) (2,1) | (3,0) (4,0) (3,1) (4,1).
  const auto t = interleaved_table(5, 2, 3);
  std::string s;
  for (auto [mb, c] : t) s += std::to_string(mb) + "." + std::to_string(c) + " ";
  EXPECT_EQ(s, "0.0 1.0 2.0 0.1 1.1 2.1 3.0 4.0 3.1 4.1 ");
  // Rank 0: warm-up 2·1 + 1·3 = 5 forwards.
  EXPECT_EQ(describe(schedule_interleaved(2, 0, 5, 2, 3)),
            "F0 F1 F2 F0.1 F1.1 F2.1 B0.1 F3 B1.1 F4 B2.1 F3.1 B0 F4.1 B1 B2 B3.1 B4.1 B3 B4");
  // Rank 1: warm-up 3.
  EXPECT_EQ(describe(schedule_interleaved(2, 1, 5, 2, 3)),
            "F0 F1 F2 F0.1 B0.1 F1.1 B1.1 F2.1 B2.1 F3 B0 F4 B1 F3.1 B2 F4.1 B3.1 B4.1 B3 B4");
}

TEST(PipelineSchedule, InterleavedRulesAsMegatron) {
  EXPECT_THROW(check_interleaved(4, 6, 2, 4), Error);   // remainder 2 < pp 4
  EXPECT_THROW(check_interleaved(4, 3, 2, 4), Error);   // group larger than M
  EXPECT_THROW(check_interleaved(4, 8, 2, 2), Error);   // group smaller than pp
  EXPECT_NO_THROW(check_interleaved(4, 8, 2, 4));
  EXPECT_NO_THROW(check_interleaved(2, 5, 2, 3));       // remainder 2 >= pp 2
  try {
    check_interleaved(4, 6, 2, 4);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("microbatch_group_size_per_vp_stage"), std::string::npos) << e.what();
  }
}

TEST(PipelineSchedule, EveryMicroBatchRunsOnceEachWayPerChunk) {
  for (std::int64_t pp : {2, 3, 4})
    for (std::int64_t V : {2, 4})
      for (std::int64_t M : {pp, 2 * pp, 2 * pp + pp})
        for (std::int64_t rank = 0; rank < pp; ++rank) {
          const auto s = schedule_interleaved(pp, rank, M, V, pp);
          std::vector<int> f(static_cast<size_t>(M * V)), b(static_cast<size_t>(M * V));
          for (const auto& a : s) {
            auto& seen = a.kind == PipelineAction::Kind::Forward ? f : b;
            ++seen[static_cast<size_t>(a.microbatch * V + a.chunk)];
            if (a.kind == PipelineAction::Kind::Backward) {  // backward only after its forward
              EXPECT_EQ(f[static_cast<size_t>(a.microbatch * V + a.chunk)], 1);
            }
          }
          for (std::int64_t i = 0; i < M * V; ++i) EXPECT_TRUE(f[static_cast<size_t>(i)] == 1 && b[static_cast<size_t>(i)] == 1);
        }
}

}  // namespace
