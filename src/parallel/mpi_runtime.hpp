// MPI for one process's lifetime (created by `primus train pretrain` only, so that `config show`
// and `parallel layout` never need mpirun): MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the
// collective watchdog may abort from its own thread), errors returned instead of aborting inside
// MPI (every call is checked by the communicator wrapper), the bf16 datatype and sum operation,
// and the watchdog every blocking wait arms. Destroying it finalizes MPI.
//
// Launching is mpirun's or Slurm's job; a process started without a launcher is a world of one.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <thread>

#include "parallel/watchdog.hpp"

namespace primus::parallel {

class MpiRuntime {
 public:
  MpiRuntime();
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  Watchdog& watchdog() { return *watchdog_; }

  // Ends every rank of the job now (MPI_Abort on MPI_COMM_WORLD) with `code`.
  [[noreturn]] void abort(int code) const;
  // Prints "primus: error: [rank r/N] message" to stderr, then aborts every rank.
  [[noreturn]] void fail_all(const std::string& message, int code = 2) const;

  // The live runtime, or nullptr when MPI is not initialised (tests, `config show`).
  static MpiRuntime* current();
  // The committed 2-byte bf16 datatype and its sum (bf16 in, fp32 add, round to nearest even).
  static MPI_Datatype bf16_type();
  static MPI_Op bf16_sum();

 private:
  int rank_ = 0, size_ = 1;
  bool thread_multiple_ = false;
  std::thread::id main_thread_ = std::this_thread::get_id();
  MPI_Datatype bf16_type_ = MPI_DATATYPE_NULL;
  MPI_Op bf16_sum_ = MPI_OP_NULL;
  std::unique_ptr<Watchdog> watchdog_;
};

// Throws primus::Error "MPI error in <call> on the <group> group: <MPI's text>" unless rc is
// MPI_SUCCESS. The one place MPI return codes are looked at.
void check_mpi(int rc, const char* call, const std::string& group);

}  // namespace primus::parallel
