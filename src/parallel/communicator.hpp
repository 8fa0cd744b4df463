// The one thin, checked wrapper over MPI that every piece of communication goes through: one
// Communicator per process group (parallel_state.hpp makes them), collectives in fp32, bf16,
// fp64 and integers, blocking and non-blocking.
//
//  * Every MPI return code is checked (mpi_runtime.hpp: check_mpi); a failure is a primus::Error
//    naming the call and the group.
//  * Every wait arms the collective watchdog with the operation and the group, so a peer that
//    stops answering aborts the run with a message instead of hanging it.
//  * A default-constructed Communicator is a group of one process without MPI: collectives are the
//    identity, so the one-process engine runs the same code (and tests need no mpirun).
//
// In-place conventions (as MPI's MPI_IN_PLACE):
//  * allreduce(data, n): data[n] becomes the reduction over the group.
//  * reduce_scatter(data, n): data holds size()·n elements; afterwards data[0, n) holds this
//    rank's reduced chunk (chunk rank(), i.e. elements [rank()·n, rank()·n + n) of the input);
//    the rest of data is unspecified.
//  * allgather(data, n): data holds size()·n elements; this rank's chunk at data[rank()·n] is sent
//    and every other chunk is received in place.
// bf16 reductions support sum only (widened to fp32 per addition, rounded to nearest even).
// Non-blocking calls return a Request; the buffer must stay untouched until wait()/test() says
// it completed. MPI makes progress only inside MPI calls: test() is how overlapping code lets
// outstanding operations advance.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "parallel/watchdog.hpp"

namespace primus::parallel {

enum class ReduceOp { Sum, Max, Min };
enum class Elem { F32, BF16, F64, I32, I64 };

template <typename T> constexpr Elem elem_of();
template <> constexpr Elem elem_of<float>() { return Elem::F32; }
template <> constexpr Elem elem_of<bf16>() { return Elem::BF16; }
template <> constexpr Elem elem_of<double>() { return Elem::F64; }
template <> constexpr Elem elem_of<std::int32_t>() { return Elem::I32; }
template <> constexpr Elem elem_of<std::int64_t>() { return Elem::I64; }

class Request {
 public:
  bool pending() const { return handle_ != MPI_REQUEST_NULL; }

 private:
  friend class Communicator;
  MPI_Request handle_ = MPI_REQUEST_NULL;
  const char* op_ = nullptr;
  std::int64_t detail_ = -1;
};

class Communicator {
 public:
  // A group of one process, no MPI.
  explicit Communicator(std::string name = "self");
  // Wraps (and owns) an MPI communicator; world_ranks lists the members in group-rank order.
  Communicator(MPI_Comm comm, std::string name, std::vector<int> world_ranks, Watchdog* watchdog);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  const std::string& name() const { return name_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::vector<int>& world_ranks() const { return world_ranks_; }
  bool uses_mpi() const { return comm_ != MPI_COMM_NULL; }

  template <typename T>
  void allreduce(T* data, std::int64_t count, ReduceOp op = ReduceOp::Sum) {
    Request r = iallreduce(data, count, op);
    wait(r);
  }
  template <typename T>
  Request iallreduce(T* data, std::int64_t count, ReduceOp op = ReduceOp::Sum, std::int64_t detail = -1) {
    return iallreduce_raw(data, count, elem_of<T>(), op, detail);
  }
  template <typename T>
  void reduce_scatter(T* data, std::int64_t count) {
    Request r = ireduce_scatter(data, count);
    wait(r);
  }
  template <typename T>
  Request ireduce_scatter(T* data, std::int64_t count, std::int64_t detail = -1) {
    return ireduce_scatter_raw(data, count, elem_of<T>(), detail);
  }
  template <typename T>
  void allgather(T* data, std::int64_t count) {
    Request r = iallgather(data, count);
    wait(r);
  }
  template <typename T>
  Request iallgather(T* data, std::int64_t count, std::int64_t detail = -1) {
    return iallgather_raw(data, count, elem_of<T>(), detail);
  }
  template <typename T>
  void broadcast(T* data, std::int64_t count, int root) {
    broadcast_raw(data, count, elem_of<T>(), root);
  }
  // Point to point; peers are group ranks.
  template <typename T>
  Request isend(const T* data, std::int64_t count, int peer, int tag) {
    return isend_raw(data, count, elem_of<T>(), peer, tag);
  }
  template <typename T>
  Request irecv(T* data, std::int64_t count, int peer, int tag) {
    return irecv_raw(data, count, elem_of<T>(), peer, tag);
  }
  template <typename T>
  void send(const T* data, std::int64_t count, int peer, int tag) {
    Request r = isend(data, count, peer, tag);
    wait(r);
  }
  template <typename T>
  void recv(T* data, std::int64_t count, int peer, int tag) {
    Request r = irecv(data, count, peer, tag);
    wait(r);
  }
  // All-to-all with per-peer element counts and offsets (size() entries each; MPI's int counts).
  template <typename T>
  Request ialltoallv(const T* send, std::span<const int> send_counts, std::span<const int> send_offsets, T* recv,
                     std::span<const int> recv_counts, std::span<const int> recv_offsets) {
    return ialltoallv_raw(send, send_counts, send_offsets, recv, recv_counts, recv_offsets, elem_of<T>());
  }
  template <typename T>
  void alltoallv(const T* send, std::span<const int> send_counts, std::span<const int> send_offsets, T* recv,
                 std::span<const int> recv_counts, std::span<const int> recv_offsets) {
    Request r = ialltoallv(send, send_counts, send_offsets, recv, recv_counts, recv_offsets);
    wait(r);
  }
  void barrier();

  // Blocks until the request completes (watched by the collective timeout).
  void wait(Request& request);
  void wait_all(std::span<Request> requests);
  // Lets MPI progress; true when the request has completed (or was never started).
  bool test(Request& request);

 private:
  Request iallreduce_raw(void* data, std::int64_t count, Elem elem, ReduceOp op, std::int64_t detail);
  Request ireduce_scatter_raw(void* data, std::int64_t count, Elem elem, std::int64_t detail);
  Request iallgather_raw(void* data, std::int64_t count, Elem elem, std::int64_t detail);
  void broadcast_raw(void* data, std::int64_t count, Elem elem, int root);
  Request isend_raw(const void* data, std::int64_t count, Elem elem, int peer, int tag);
  Request irecv_raw(void* data, std::int64_t count, Elem elem, int peer, int tag);
  Request ialltoallv_raw(const void* send, std::span<const int> send_counts, std::span<const int> send_offsets,
                         void* recv, std::span<const int> recv_counts, std::span<const int> recv_offsets, Elem elem);
  int checked_count(std::int64_t count, const char* call) const;
  void check(int rc, const char* call) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::string name_;
  std::vector<int> world_ranks_{0};
  int rank_ = 0, size_ = 1;
  Watchdog* watchdog_ = nullptr;
};

}  // namespace primus::parallel
