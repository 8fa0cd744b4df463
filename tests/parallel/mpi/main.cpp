// GoogleTest main for the suites that run under mpirun: MPI is up for the whole run (as in
// `primus train pretrain`), every rank runs every test, and the process exits non-zero when any
// test failed on this rank (mpirun then fails the CTest test). Rank 0 narrates; the other ranks
// print only their failures, prefixed with their rank.
#include <gtest/gtest.h>

#include <cstdio>

#include "parallel/mpi_runtime.hpp"

namespace {

class FailuresOnly : public ::testing::EmptyTestEventListener {
 public:
  explicit FailuresOnly(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                 r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  primus::parallel::MpiRuntime mpi;
  if (mpi.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailuresOnly(mpi.rank()));
  }
  return RUN_ALL_TESTS();
}
