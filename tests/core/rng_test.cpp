#include "core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/threads.hpp"

namespace primus {
namespace {

TEST(CoreRng, PhiloxKnownAnswers) {
  // Known-answer vectors published with Random123 (kat_vectors, philox4x32 10 rounds).
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r, (std::array<std::uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  r = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(r, (std::array<std::uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  r = philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
  EXPECT_EQ(r, (std::array<std::uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(CoreRng, NormalStatisticsAndThreadIndependence) {
  const std::size_t n = 200003;
  std::vector<float> a(n), b(n);
  const int before = num_threads();
  Rng ra(1234, 7);
  ra.fill_normal(a.data(), n, 0.5f, 0.02f);
  set_num_threads(1);
  Rng rb(1234, 7);
  rb.fill_normal(b.data(), n, 0.5f, 0.02f);
  set_num_threads(before);
  EXPECT_EQ(a, b);  // same values whatever the thread count
  double sum = 0, sq = 0;
  for (float v : a) sum += v;
  const double mean = sum / n;
  for (float v : a) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0.5, 3e-4);
  EXPECT_NEAR(std::sqrt(sq / n), 0.02, 3e-4);
  EXPECT_EQ(ra.offset(), (n + 3) / 4);
}

TEST(CoreRng, StreamsSeedsAndResume) {
  std::vector<float> a(10), b(10), c(10), d(10);
  Rng(1, 0).fill_normal(a.data(), 10, 0, 1);
  Rng(1, 1).fill_normal(b.data(), 10, 0, 1);
  Rng(2, 0).fill_normal(c.data(), 10, 0, 1);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  // Two fills of 8 == one fill of 16 split at a block boundary; set_offset resumes.
  Rng r(5);
  std::vector<float> first(8), second(8), whole(16);
  r.fill_uniform(first.data(), 8, -1, 1);
  r.fill_uniform(second.data(), 8, -1, 1);
  Rng(5).fill_uniform(whole.data(), 16, -1, 1);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(first[i], whole[i]);
    EXPECT_EQ(second[i], whole[8 + i]);
    EXPECT_GE(first[i], -1.0f);
    EXPECT_LT(first[i], 1.0f);
  }
  Rng s(5);
  s.set_offset(2);
  s.fill_uniform(d.data(), 8, -1, 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(d[i], second[i]);
  Rng q(9);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(q.below(7), 7u);
    const float u = q.uniform();
    EXPECT_TRUE(u >= 0.0f && u < 1.0f);
  }
}

TEST(Rng, FillNormalAtIsTheSliceOfTheSequence) {
  // Any slice [first, first + n) of a stream equals the same slice of one long fill: tensor-parallel
  // shards initialise exactly their part of the full tensor.
  std::vector<float> whole(103);
  Rng(42, 7).fill_normal(whole.data(), whole.size(), 0.0f, 0.5f);
  for (std::uint64_t first : {0u, 1u, 3u, 4u, 37u, 98u})
    for (std::size_t n : {1u, 2u, 5u}) {
      std::vector<float> part(n);
      Rng(42, 7).fill_normal_at(part.data(), first, n, 0.0f, 0.5f);
      for (std::size_t j = 0; j < n; ++j) EXPECT_EQ(part[j], whole[first + j]) << first << "+" << j;
    }
}

}  // namespace
}  // namespace primus
