// The parallel pieces on one process without MPI — the path every single-process run takes:
// collectives are the identity, gradient sync leaves gradients as they are, and the overlap
// bookkeeping catches a model that reports a range twice or not at all.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "parallel/communicator.hpp"
#include "parallel/distributed_data_parallel.hpp"
#include "parallel/parallel_state.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

TEST(OneProcess, CollectivesAreTheIdentity) {
  Communicator self;
  EXPECT_EQ(self.size(), 1);
  EXPECT_EQ(self.rank(), 0);
  EXPECT_FALSE(self.uses_mpi());
  std::vector<float> x{1.5f, -2.0f, 3.25f};
  self.allreduce(x.data(), 3);
  self.reduce_scatter(x.data(), 3);
  self.allgather(x.data(), 3);
  self.broadcast(x.data(), 3, 0);
  self.barrier();
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<bf16> h{to_bf16(1.0f)};
  self.allreduce(h.data(), 1);
  EXPECT_EQ(to_f32(h[0]), 1.0f);
  std::vector<float> out(3, 0.0f);
  const int counts[] = {3}, offsets[] = {0};
  self.alltoallv(x.data(), counts, offsets, out.data(), counts, offsets);
  EXPECT_EQ(out, x);
  EXPECT_THROW(self.send(x.data(), 1, 0, 0), Error);
  Request r = self.iallreduce(x.data(), 3);
  EXPECT_TRUE(self.test(r));
  self.wait(r);
}

TEST(OneProcess, ParallelStateHasEveryGroup) {
  auto state = ParallelState::single_process();
  EXPECT_EQ(state->world_size(), 1);
  EXPECT_TRUE(state->is_last_rank());
  for (GroupKind k : all_group_kinds()) {
    EXPECT_TRUE(state->in_group(k));
    EXPECT_EQ(state->group(k).size(), 1);
    EXPECT_EQ(state->group(k).name(), group_name(k));
  }
}

struct Fixture {
  std::vector<BufferParam> params{{0, 1000}, {1008, 500}, {1520, 3000}};
  ParamAndGradBuffer buffer;
  std::vector<float> p, g;
  Communicator self;
  explicit Fixture(bool distributed)
      : buffer(params, {{"dense", 0, 4520, 1}}, 4608, [&] {
          BucketOptions o;
          o.bucket_size = 2048;
          o.distributed_optimizer = distributed;
          return o;
        }()) {
    p.assign(static_cast<std::size_t>(buffer.buffer_floats()), 1.0f);
    g.assign(static_cast<std::size_t>(buffer.buffer_floats()), 0.0f);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = static_cast<float>(i % 7) - 3.0f;
  }
};

TEST(OneProcess, GradientSyncLeavesGradientsUnchanged) {
  for (bool distributed : {false, true})
    for (bool overlap : {false, true}) {
      Fixture f(distributed);
      DdpConfig c;
      c.use_distributed_optimizer = distributed;
      c.overlap_grad_reduce = overlap;
      DistributedDataParallel ddp(c, f.buffer, {&f.self}, 1, f.p.data(), f.g.data(), nullptr);
      const std::vector<float> before = f.g;
      ddp.start_last_micro_batch();
      ddp.grad_ready(1520, 4520);
      ddp.grad_ready(0, 1520);
      ddp.finish_grad_sync();
      ddp.start_param_sync();
      ddp.params_needed(0, 4520);
      ddp.finish_param_sync();
      EXPECT_EQ(f.g, before);
    }
}

TEST(OneProcess, OverlapCatchesMissingAndRepeatedReports) {
  Fixture f(false);
  DdpConfig c;
  c.overlap_grad_reduce = true;
  DistributedDataParallel ddp(c, f.buffer, {&f.self}, 1, f.p.data(), f.g.data(), nullptr);
  ddp.start_last_micro_batch();
  ddp.grad_ready(1520, 4520);
  try {
    ddp.finish_grad_sync();  // parameters 0 and 1 never reported
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never all reported final"), std::string::npos) << e.what();
  }
  DistributedDataParallel again(c, f.buffer, {&f.self}, 1, f.p.data(), f.g.data(), nullptr);
  again.start_last_micro_batch();
  again.grad_ready(0, 1008);
  EXPECT_THROW(again.grad_ready(0, 1508), Error);
}

TEST(OneProcess, DdpConfigFollowsMegatronsFlags) {
  config::Args a;
  a.num_distributed_optimizer_instances = 1;
  a.bf16 = false;
  a.grad_reduce_in_bf16 = true;
  EXPECT_FALSE(DdpConfig::from_args(a).grad_reduce_in_bf16);  // fp32 runs reduce in fp32
  a.bf16 = true;
  EXPECT_TRUE(DdpConfig::from_args(a).grad_reduce_in_bf16);
  a.grad_reduce_in_bf16 = false;
  EXPECT_FALSE(DdpConfig::from_args(a).grad_reduce_in_bf16);
  // Bucket size: ddp_num_buckets, else ddp_bucket_size, else 16 MiB of fp32.
  EXPECT_EQ(DdpConfig::from_args(a).bucket_options(1 << 30).bucket_size, kDefaultBucketElements);
  a.ddp_bucket_size = 1000000;
  EXPECT_EQ(DdpConfig::from_args(a).bucket_options(1 << 30).bucket_size, 1000000);
  a.ddp_num_buckets = 8;
  EXPECT_EQ(DdpConfig::from_args(a).bucket_options(8000000).bucket_size, 1000000);
  a.num_distributed_optimizer_instances = 2;
  EXPECT_THROW(DdpConfig::from_args(a), Error);
}

}  // namespace
