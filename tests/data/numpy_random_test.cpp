// numpy legacy RandomState: raw words, shuffles and bounded draws equal numpy's own output
// (fixture from tools/reference/data/numpy_random_fixture.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "data/mock_dataset.hpp"
#include "data/numpy_pcg64.hpp"
#include "data/numpy_random.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

TEST(NumpyRandom, MatchesNumpyForSeveralSeedsAndSizes) {
  const auto j = nlohmann::json::parse(testing::read_file(testing::fixture("numpy_random.json")));
  ASSERT_GE(j["cases"].size(), 5u);
  for (const auto& c : j["cases"]) {
    const auto seed = c["seed"].get<std::uint32_t>();
    {
      NumpyRandomState rs(seed);
      for (const auto& w : c["uint32"]) EXPECT_EQ(rs.next_uint32(), w.get<std::uint64_t>()) << seed;
    }
    for (const auto& [key, expected] : c["shuffle"].items()) {
      const std::size_t n = std::stoul(key);
      std::vector<std::int32_t> a(n);
      for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<std::int32_t>(i);
      NumpyRandomState rs(seed);
      rs.shuffle(std::span<std::int32_t>(a));
      const auto e = expected.get<std::vector<std::int64_t>>();
      const std::size_t shown = std::min<std::size_t>(n, 200);
      for (std::size_t i = 0; i < shown; ++i) ASSERT_EQ(a[i], e[i]) << "seed " << seed << " n " << n << " i " << i;
      std::int64_t sum = 0, weighted = 0;
      for (std::size_t i = 0; i < n; ++i) {
        sum += a[i];
        weighted = (weighted + static_cast<std::int64_t>(a[i]) * static_cast<std::int64_t>(i)) % 1000003;
      }
      EXPECT_EQ(sum, e[shown]);
      EXPECT_EQ(weighted, e[shown + 1]) << "seed " << seed << " n " << n;
    }
    {
      NumpyRandomState rs(seed);
      std::vector<std::uint32_t> a(500);
      std::vector<std::int64_t> b(300);
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint32_t>(i);
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::int64_t>(i);
      rs.shuffle(std::span<std::uint32_t>(a));
      rs.shuffle(std::span<std::int64_t>(b));
      const auto e = c["two_shuffles"].get<std::vector<std::int64_t>>();
      for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], e[i]);
      for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], e[500 + i]);
    }
    {
      NumpyRandomState rs(seed);
      for (const auto& v : c["big_interval"]) {
        EXPECT_EQ(rs.random_interval(1ull << 40), v.get<std::uint64_t>()) << seed;
      }
    }
  }
}

TEST(NumpyPcg64, DefaultRngIntegersMatchNumpy) {
  const auto j = nlohmann::json::parse(testing::read_file(testing::fixture("numpy_random.json")));
  {
    NumpyPcg64 rng(0);
    for (const auto& v : j["pcg64_raw"]) EXPECT_EQ(rng.next_uint64(), v.get<std::uint64_t>());
  }
  ASSERT_GE(j["pcg64"].size(), 3u);
  for (const auto& c : j["pcg64"]) {
    NumpyPcg64 rng(c["seed"].get<std::uint32_t>());
    const auto low = c["low"].get<std::int32_t>(), high = c["high"].get<std::int32_t>();
    const auto first = c["first"].get<std::vector<std::int32_t>>();
    std::int64_t sum = 0;
    std::int32_t last = 0;
    for (int i = 0; i < 100000; ++i) {
      last = rng.integers_int32(low, high);
      if (i < static_cast<int>(first.size())) {
        ASSERT_EQ(last, first[static_cast<std::size_t>(i)]) << c["seed"] << " #" << i;
      }
      sum += last;
    }
    EXPECT_EQ(sum, c["sum"].get<std::int64_t>());
    EXPECT_EQ(last, c["last"].get<std::int32_t>());
  }
  // Megatron's mock dataset lengths are the seed-0 draws.
  MockLowLevelDataset mock(32000, 2);
  const auto first = j["pcg64"][0]["first"].get<std::vector<std::int32_t>>();
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(mock.sequence_lengths()[i], first[i]);
}

}  // namespace
}  // namespace primus::data
