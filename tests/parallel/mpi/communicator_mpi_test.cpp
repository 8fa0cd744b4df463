// The checked MPI wrapper on 2 or 4 real processes: every collective in fp32, bf16, fp64 and
// integers, in place as documented, blocking and non-blocking; and the process groups built over
// MPI hold the ranks the layout says.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

std::unique_ptr<ParallelState> world_state(int tp = 1) {
  MpiRuntime* mpi = MpiRuntime::current();
  ParallelSizes s;
  s.world = mpi->size();
  s.tp = s.etp = tp;
  return ParallelState::from_mpi(ProcessGroups(s), &mpi->watchdog());
}

TEST(Communicator, AllreduceInEveryType) {
  auto state = world_state();
  Communicator& w = state->world();
  const int n = w.size(), r = w.rank();
  std::vector<float> f{static_cast<float>(r + 1), 0.5f};
  w.allreduce(f.data(), 2);
  EXPECT_EQ(f[0], static_cast<float>(n * (n + 1) / 2));
  EXPECT_EQ(f[1], 0.5f * static_cast<float>(n));
  std::vector<bf16> h{to_bf16(static_cast<float>(r + 1)), to_bf16(-0.25f)};
  w.allreduce(h.data(), 2);
  EXPECT_EQ(to_f32(h[0]), static_cast<float>(n * (n + 1) / 2));
  EXPECT_EQ(to_f32(h[1]), -0.25f * static_cast<float>(n));
  double d[2] = {static_cast<double>(r), -static_cast<double>(r)};
  w.allreduce(d, 2, ReduceOp::Max);
  EXPECT_EQ(d[0], n - 1);
  EXPECT_EQ(d[1], 0.0);
  std::int64_t i = r;
  w.allreduce(&i, 1, ReduceOp::Min);
  EXPECT_EQ(i, 0);
}

TEST(Communicator, ReduceScatterAndAllgatherInPlace) {
  auto state = world_state();
  Communicator& w = state->world();
  const int n = w.size(), r = w.rank();
  const int count = 5;
  std::vector<float> x(static_cast<std::size_t>(n * count));
  for (int j = 0; j < n * count; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(r * 1000 + j);
  w.reduce_scatter(x.data(), count);
  // This rank's chunk (elements [r·count, (r+1)·count) summed over ranks) lands at the start.
  for (int j = 0; j < count; ++j) {
    float want = 0;
    for (int k = 0; k < n; ++k) want += static_cast<float>(k * 1000 + r * count + j);
    EXPECT_EQ(x[static_cast<std::size_t>(j)], want);
  }
  std::vector<bf16> y(static_cast<std::size_t>(n * count), to_bf16(1.0f));
  w.reduce_scatter(y.data(), count);
  EXPECT_EQ(to_f32(y[0]), static_cast<float>(n));
  std::vector<float> g(static_cast<std::size_t>(n * count), -1.0f);
  for (int j = 0; j < count; ++j) g[static_cast<std::size_t>(r * count + j)] = static_cast<float>(r * 10 + j);
  w.allgather(g.data(), count);
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < count; ++j) EXPECT_EQ(g[static_cast<std::size_t>(k * count + j)], static_cast<float>(k * 10 + j));
}

TEST(Communicator, BroadcastPointToPointAndAllToAll) {
  auto state = world_state();
  Communicator& w = state->world();
  const int n = w.size(), r = w.rank();
  std::int64_t v = r == n - 1 ? 42 : 0;
  w.broadcast(&v, 1, n - 1);
  EXPECT_EQ(v, 42);
  // A ring: send to the next rank, receive from the previous one.
  float out = static_cast<float>(r), in = -1;
  Request recv = w.irecv(&in, 1, (r + n - 1) % n, 7);
  w.send(&out, 1, (r + 1) % n, 7);
  w.wait(recv);
  EXPECT_EQ(in, static_cast<float>((r + n - 1) % n));
  // All-to-all: rank r sends k+1 copies of r to rank k.
  std::vector<int> sc(static_cast<std::size_t>(n)), so(static_cast<std::size_t>(n)), rc(static_cast<std::size_t>(n)),
      ro(static_cast<std::size_t>(n));
  std::vector<float> send, recvbuf;
  for (int k = 0; k < n; ++k) {
    sc[static_cast<std::size_t>(k)] = k + 1;
    so[static_cast<std::size_t>(k)] = static_cast<int>(send.size());
    for (int j = 0; j <= k; ++j) send.push_back(static_cast<float>(r));
    rc[static_cast<std::size_t>(k)] = r + 1;
    ro[static_cast<std::size_t>(k)] = k * (r + 1);
  }
  recvbuf.assign(static_cast<std::size_t>(n * (r + 1)), -1.0f);
  w.alltoallv(send.data(), sc, so, recvbuf.data(), rc, ro);
  for (int k = 0; k < n; ++k)
    for (int j = 0; j <= r; ++j) EXPECT_EQ(recvbuf[static_cast<std::size_t>(k * (r + 1) + j)], static_cast<float>(k));
  w.barrier();
}

TEST(Communicator, NonBlockingCompletesThroughTest) {
  auto state = world_state();
  Communicator& w = state->world();
  std::vector<float> x(1 << 16, 1.0f);
  Request req = w.iallreduce(x.data(), static_cast<std::int64_t>(x.size()), ReduceOp::Sum, 0);
  int polls = 0;
  while (!w.test(req) && polls < 1000000) ++polls;
  w.wait(req);
  EXPECT_EQ(x.back(), static_cast<float>(w.size()));
}

TEST(ParallelState, GroupsOverMpiHoldTheLayoutsRanks) {
  MpiRuntime* mpi = MpiRuntime::current();
  if (mpi->size() % 2 != 0) GTEST_SKIP() << "needs an even world";
  auto state = world_state(2);
  const ProcessGroups& layout = state->layout();
  for (GroupKind k : all_group_kinds()) {
    const auto* members = layout.group_of(k, mpi->rank());
    ASSERT_EQ(state->in_group(k), members != nullptr) << group_name(k);
    if (!members) continue;
    Communicator& c = state->group(k);
    EXPECT_EQ(c.world_ranks(), *members) << group_name(k);
    // Summing world ranks over the group gives the members' sum: the communicator is that group.
    std::int64_t sum = mpi->rank();
    c.allreduce(&sum, 1);
    EXPECT_EQ(sum, std::accumulate(members->begin(), members->end(), std::int64_t{0})) << group_name(k);
  }
  EXPECT_EQ(state->tp().size(), 2);
  EXPECT_EQ(state->dp().size(), mpi->size() / 2);
  EXPECT_EQ(state->coordinates().tp, mpi->rank() % 2);
}

}  // namespace
