// Bucket layouts and distributed-optimizer shards: buckets tile each region exactly (plus padding),
// respect the size cap and Megatron's divisibility rule, start at parameter boundaries when they
// can; each rank's optimizer pieces lie in its shards and all ranks' pieces partition the
// parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "parallel/distributed_optimizer.hpp"
#include "parallel/param_and_grad_buffer.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

// Parameters of assorted sizes laid out like the model does (64-byte aligned).
std::vector<BufferParam> model_like_params(const std::vector<std::int64_t>& sizes, std::int64_t start = 0) {
  std::vector<BufferParam> out;
  std::int64_t at = start;
  for (std::int64_t n : sizes) {
    out.push_back({at, n});
    at += (n + 15) / 16 * 16;
  }
  return out;
}

std::int64_t end_of(const std::vector<BufferParam>& ps) {
  std::int64_t e = 0;
  for (const auto& p : ps) e = std::max(e, (p.offset + p.numel + 15) / 16 * 16);
  return e;
}

// The buffer a layout padded with ParamAndGradBuffer::region_alignment would have.
ParamAndGradBuffer make(const std::vector<BufferParam>& params, const std::vector<GradRegion>& regions,
                        const BucketOptions& o) {
  std::int64_t floats = 0;
  for (const auto& r : regions) {
    const std::int64_t l = ParamAndGradBuffer::alignment(r.data_parallel_size, o);
    floats = std::max(floats, r.begin + (r.end - r.begin + l - 1) / l * l);
  }
  return ParamAndGradBuffer(params, regions, floats, o);
}

void check_layout(const ParamAndGradBuffer& buf) {
  const auto& buckets = buf.buckets();
  ASSERT_FALSE(buckets.empty());
  for (std::size_t ri = 0; ri < buf.regions().size(); ++ri) {
    const GradRegion& r = buf.regions()[ri];
    const std::int64_t l = ParamAndGradBuffer::alignment(r.data_parallel_size, buf.options());
    // Buckets of a region, in list order, run backwards from the padded end to the region start.
    std::vector<const Bucket*> mine;
    for (const auto& b : buckets)
      if (b.region == static_cast<int>(ri)) mine.push_back(&b);
    ASSERT_FALSE(mine.empty());
    EXPECT_EQ(mine.front()->end, r.begin + (r.end - r.begin + l - 1) / l * l);
    EXPECT_EQ(mine.back()->begin, r.begin);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const Bucket& b = *mine[i];
      if (i + 1 < mine.size()) {
        EXPECT_EQ(mine[i + 1]->end, b.begin);
      }
      EXPECT_GT(b.numel(), 0);
      EXPECT_LE(b.numel(), buf.options().bucket_size);
      EXPECT_EQ((b.begin - r.begin) % l, 0);
      EXPECT_EQ(b.numel() % l, 0);
      if (buf.options().distributed_optimizer) {
        EXPECT_EQ(b.shard_size * r.data_parallel_size, b.numel());
        for (int k = 0; k < r.data_parallel_size; ++k)  // shards start on the lcm grid divided by dp
          EXPECT_EQ((b.shard_begin(k) - r.begin) % (l / r.data_parallel_size), 0);
      }
      EXPECT_LE(b.end, buf.buffer_floats());
    }
  }
  // Bucket membership: a parameter is listed in exactly the buckets it overlaps.
  for (std::size_t p = 0; p < buf.params().size(); ++p) {
    const auto& q = buf.params()[p];
    std::vector<int> expect;
    for (const auto& b : buckets)
      if (q.offset < b.end && q.offset + q.numel > b.begin) expect.push_back(b.index);
    std::vector<int> got = buf.buckets_of(static_cast<int>(p));
    std::sort(got.begin(), got.end());
    std::sort(expect.begin(), expect.end());
    EXPECT_EQ(got, expect) << "param " << p;
  }
}

TEST(ParamAndGradBuffer, SmallModelIsOneBucket) {
  auto params = model_like_params({1000, 64, 4096, 64, 1000});
  const std::int64_t end = end_of(params);
  ParamAndGradBuffer buf = make(params, {{"dense", 0, end, 1}}, BucketOptions{});
  ASSERT_EQ(buf.buckets().size(), 1u);
  EXPECT_EQ(buf.buckets()[0].begin, 0);
  EXPECT_EQ(buf.buckets()[0].end, end);
  EXPECT_EQ(buf.buffer_floats(), end);
  check_layout(buf);
}

TEST(ParamAndGradBuffer, BucketsAreCappedAndStartAtParameters) {
  // Ten 1000-element parameters, buckets of at most 2500: two whole parameters per bucket.
  auto params = model_like_params(std::vector<std::int64_t>(10, 1000));
  BucketOptions o;
  o.bucket_size = 2500;
  ParamAndGradBuffer buf = make(params, {{"dense", 0, end_of(params), 1}}, o);
  check_layout(buf);
  ASSERT_EQ(buf.buckets().size(), 5u);
  for (const auto& b : buf.buckets()) {
    EXPECT_EQ(b.params.size(), 2u);
    EXPECT_EQ(b.begin, params[static_cast<std::size_t>(b.params.front())].offset);
  }
  // The first bucket holds the last parameters: backward finishes them first.
  EXPECT_EQ(buf.buckets()[0].params, (std::vector<int>{8, 9}));
}

TEST(ParamAndGradBuffer, ParameterLargerThanABucketIsSplit) {
  auto params = model_like_params({100, 10000, 100});
  BucketOptions o;
  o.bucket_size = 4096;
  ParamAndGradBuffer buf = make(params, {{"dense", 0, end_of(params), 1}}, o);
  check_layout(buf);
  EXPECT_GE(buf.buckets_of(1).size(), 3u);
}

TEST(ParamAndGradBuffer, DistributedOptimizerPadsBucketsToMultiplesOfDp) {
  for (int dp : {1, 2, 3, 4, 6, 8}) {
    auto params = model_like_params({32000 * 4, 64, 3 * 64 * 64, 64 * 64, 64, 177, 1});
    BucketOptions o;
    o.distributed_optimizer = true;
    o.bucket_size = 20000;
    ParamAndGradBuffer buf = make(params, {{"dense", 0, end_of(params), dp}}, o);
    SCOPED_TRACE(dp);
    check_layout(buf);
    const std::int64_t l = std::lcm<std::int64_t>(dp, 128);
    EXPECT_EQ(ParamAndGradBuffer::alignment(dp, o), l);
    EXPECT_EQ(buf.buffer_floats(), (end_of(params) + l - 1) / l * l);
  }
  BucketOptions busbw;
  busbw.distributed_optimizer = busbw.pad_for_high_nccl_busbw = true;
  EXPECT_EQ(ParamAndGradBuffer::alignment(3, busbw), 3 * 65536);
}

TEST(ParamAndGradBuffer, TwoRegionsReduceOverTheirOwnGroups) {
  // A dense region reduced over 4 ranks, then an expert region over 2, with room for padding.
  BucketOptions o;
  o.distributed_optimizer = true;
  o.bucket_size = 4096;
  auto dense = model_like_params({3000, 700, 1500});
  const std::int64_t dense_end = end_of(dense);
  const std::int64_t expert_begin = (dense_end + 127) / 128 * 128;
  auto expert = model_like_params({2000, 2000, 90}, expert_begin);
  std::vector<BufferParam> all = dense;
  all.insert(all.end(), expert.begin(), expert.end());
  ParamAndGradBuffer buf = make(all, {{"dense", 0, dense_end, 4}, {"expert", expert_begin, end_of(expert), 2}}, o);
  check_layout(buf);
  EXPECT_EQ(buf.buckets().front().region, 1);  // the last region's buckets come first
  for (const auto& b : buf.buckets()) EXPECT_EQ(b.shard_size * (b.region == 0 ? 4 : 2), b.numel());
  // No room for the dense region's padding before the expert region: a clear internal error.
  std::vector<BufferParam> tight = dense;
  auto packed = model_like_params({2000}, dense_end);
  tight.insert(tight.end(), packed.begin(), packed.end());
  ASSERT_NE(dense_end % 128, 0);
  EXPECT_THROW(make(tight, {{"dense", 0, dense_end, 4}, {"expert", dense_end, end_of(tight), 2}}, o), Error);
  // Nor past the buffer's end.
  EXPECT_THROW(ParamAndGradBuffer(dense, {{"dense", 0, dense_end, 4}}, dense_end, o), Error);
  EXPECT_EQ(ParamAndGradBuffer::region_alignment({4, 2}, o), 128);
  EXPECT_EQ(ParamAndGradBuffer::region_alignment({3, 2}, o), 384);
}

TEST(DistributedOptimizer, ShardsPartitionTheParameters) {
  auto params = model_like_params({5000, 64, 3000, 3000, 64, 17, 9000});
  for (bool distributed : {false, true})
    for (int dp : {1, 2, 3, 4}) {
      SCOPED_TRACE(std::to_string(dp) + (distributed ? " distributed" : ""));
      BucketOptions o;
      o.distributed_optimizer = distributed;
      o.bucket_size = 3000;
      ParamAndGradBuffer buf = make(params, {{"dense", 0, end_of(params), dp}}, o);
      std::vector<int> owners(static_cast<std::size_t>(buf.buffer_floats()), 0);
      for (int r = 0; r < (distributed ? dp : 1); ++r) {
        for (const ParamPiece& piece : optimizer_pieces(buf, {r})) {
          const auto& q = params[static_cast<std::size_t>(piece.param)];
          EXPECT_GE(piece.begin, q.offset);
          EXPECT_LE(piece.end, q.offset + q.numel);
          if (distributed) {
            bool in_shard = false;
            for (const auto& b : buf.buckets())
              in_shard = in_shard || (piece.begin >= b.shard_begin(r) && piece.end <= b.shard_end(r));
            EXPECT_TRUE(in_shard);
          }
          for (std::int64_t i = piece.begin; i < piece.end; ++i) ++owners[static_cast<std::size_t>(i)];
        }
      }
      // Every parameter element is updated by exactly one rank; padding by none.
      for (std::size_t p = 0; p < params.size(); ++p)
        for (std::int64_t i = params[p].offset; i < params[p].offset + params[p].numel; ++i)
          ASSERT_EQ(owners[static_cast<std::size_t>(i)], 1) << "element " << i;
      std::int64_t owned = std::accumulate(owners.begin(), owners.end(), std::int64_t{0});
      std::int64_t total = 0;
      for (const auto& q : params) total += q.numel;
      EXPECT_EQ(owned, total);
    }
}

}  // namespace
