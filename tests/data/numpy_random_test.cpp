// numpy legacy RandomState: raw words, shuffles and bounded draws equal numpy's own output
// (fixture from tools/reference/data/numpy_random_fixture.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

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

}  // namespace
}  // namespace primus::data
