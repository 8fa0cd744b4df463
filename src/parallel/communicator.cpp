#include "parallel/communicator.hpp"

#include <climits>
#include <cstring>
#include <utility>

#include "core/error.hpp"
#include "parallel/mpi_runtime.hpp"

namespace primus::parallel {

namespace {

MPI_Datatype mpi_type(Elem e) {
  switch (e) {
    case Elem::F32: return MPI_FLOAT;
    case Elem::BF16: return MpiRuntime::bf16_type();
    case Elem::F64: return MPI_DOUBLE;
    case Elem::I32: return MPI_INT32_T;
    case Elem::I64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

std::size_t elem_size(Elem e) {
  switch (e) {
    case Elem::F32: case Elem::I32: return 4;
    case Elem::BF16: return 2;
    case Elem::F64: case Elem::I64: return 8;
  }
  return 0;
}

MPI_Op mpi_op(ReduceOp op, Elem e, const std::string& group) {
  if (e == Elem::BF16) {
    if (op != ReduceOp::Sum) fail("internal: bf16 reductions on the {} group support sum only", group);
    return MpiRuntime::bf16_sum();
  }
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

}  // namespace

Communicator::Communicator(std::string name) : name_(std::move(name)) {}

Communicator::Communicator(MPI_Comm comm, std::string name, std::vector<int> world_ranks, Watchdog* watchdog)
    : comm_(comm), name_(std::move(name)), world_ranks_(std::move(world_ranks)), watchdog_(watchdog) {
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  if (static_cast<int>(world_ranks_.size()) != size_)
    fail("internal: the {} group has {} processes, its rank list {}", name_, size_, world_ranks_.size());
}

Communicator::~Communicator() {
  // Communicators are freed while MPI is up (the runtime outlives the process groups).
  if (comm_ != MPI_COMM_NULL && MpiRuntime::current()) MPI_Comm_free(&comm_);
}

Communicator::Communicator(Communicator&& o) noexcept
    : comm_(std::exchange(o.comm_, MPI_COMM_NULL)),
      name_(std::move(o.name_)),
      world_ranks_(std::move(o.world_ranks_)),
      rank_(o.rank_),
      size_(o.size_),
      watchdog_(o.watchdog_) {}

Communicator& Communicator::operator=(Communicator&& o) noexcept {
  if (this != &o) {
    if (comm_ != MPI_COMM_NULL && MpiRuntime::current()) MPI_Comm_free(&comm_);
    comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
    name_ = std::move(o.name_);
    world_ranks_ = std::move(o.world_ranks_);
    rank_ = o.rank_;
    size_ = o.size_;
    watchdog_ = o.watchdog_;
  }
  return *this;
}

void Communicator::check(int rc, const char* call) const { check_mpi(rc, call, name_); }

int Communicator::checked_count(std::int64_t count, const char* call) const {
  if (count < 0 || count > INT_MAX)
    fail("{} on the {} group: {} elements is beyond MPI's int count; lower ddp_bucket_size", call, name_, count);
  return static_cast<int>(count);
}

Request Communicator::iallreduce_raw(void* data, std::int64_t count, Elem elem, ReduceOp op, std::int64_t detail) {
  Request r;
  r.op_ = "allreduce";
  r.detail_ = detail;
  if (!uses_mpi() || count == 0) return r;
  const int n = checked_count(count, "MPI_Iallreduce");
  check(MPI_Iallreduce(MPI_IN_PLACE, data, n, mpi_type(elem), mpi_op(op, elem, name_), comm_, &r.handle_),
        "MPI_Iallreduce");
  return r;
}

Request Communicator::ireduce_scatter_raw(void* data, std::int64_t count, Elem elem, std::int64_t detail) {
  Request r;
  r.op_ = "reduce-scatter";
  r.detail_ = detail;
  if (!uses_mpi() || count == 0) return r;
  const int n = checked_count(count, "MPI_Ireduce_scatter_block");
  check(MPI_Ireduce_scatter_block(MPI_IN_PLACE, data, n, mpi_type(elem), mpi_op(ReduceOp::Sum, elem, name_), comm_,
                                  &r.handle_),
        "MPI_Ireduce_scatter_block");
  return r;
}

Request Communicator::iallgather_raw(void* data, std::int64_t count, Elem elem, std::int64_t detail) {
  Request r;
  r.op_ = "all-gather";
  r.detail_ = detail;
  if (!uses_mpi() || count == 0) return r;
  const int n = checked_count(count, "MPI_Iallgather");
  check(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, n, mpi_type(elem), comm_, &r.handle_),
        "MPI_Iallgather");
  return r;
}

void Communicator::broadcast_raw(void* data, std::int64_t count, Elem elem, int root) {
  if (root < 0 || root >= size_) fail("internal: broadcast root {} outside the {} group of {}", root, name_, size_);
  if (!uses_mpi() || count == 0) return;
  Request r;
  r.op_ = "broadcast";
  check(MPI_Ibcast(data, checked_count(count, "MPI_Ibcast"), mpi_type(elem), root, comm_, &r.handle_), "MPI_Ibcast");
  wait(r);
}

Request Communicator::isend_raw(const void* data, std::int64_t count, Elem elem, int peer, int tag) {
  if (!uses_mpi() || peer < 0 || peer >= size_ || peer == rank_)
    fail("internal: send to rank {} of the {} group (this is rank {} of {})", peer, name_, rank_, size_);
  Request r;
  r.op_ = "send";
  r.detail_ = -1;
  check(MPI_Isend(data, checked_count(count, "MPI_Isend"), mpi_type(elem), peer, tag, comm_, &r.handle_), "MPI_Isend");
  return r;
}

Request Communicator::irecv_raw(void* data, std::int64_t count, Elem elem, int peer, int tag) {
  if (!uses_mpi() || peer < 0 || peer >= size_ || peer == rank_)
    fail("internal: receive from rank {} of the {} group (this is rank {} of {})", peer, name_, rank_, size_);
  Request r;
  r.op_ = "receive";
  check(MPI_Irecv(data, checked_count(count, "MPI_Irecv"), mpi_type(elem), peer, tag, comm_, &r.handle_), "MPI_Irecv");
  return r;
}

Request Communicator::ialltoallv_raw(const void* send, std::span<const int> send_counts,
                                     std::span<const int> send_offsets, void* recv, std::span<const int> recv_counts,
                                     std::span<const int> recv_offsets, Elem elem) {
  const auto n = static_cast<std::size_t>(size_);
  if (send_counts.size() != n || send_offsets.size() != n || recv_counts.size() != n || recv_offsets.size() != n)
    fail("internal: all-to-all on the {} group of {} with count/offset lists of other sizes", name_, size_);
  Request r;
  r.op_ = "all-to-all";
  if (!uses_mpi()) {
    if (send_counts[0] != recv_counts[0]) fail("internal: one-process all-to-all with unequal counts");
    std::memmove(static_cast<char*>(recv) + static_cast<std::size_t>(recv_offsets[0]) * elem_size(elem),
                 static_cast<const char*>(send) + static_cast<std::size_t>(send_offsets[0]) * elem_size(elem),
                 static_cast<std::size_t>(send_counts[0]) * elem_size(elem));
    return r;
  }
  const MPI_Datatype t = mpi_type(elem);
  check(MPI_Ialltoallv(send, send_counts.data(), send_offsets.data(), t, recv, recv_counts.data(), recv_offsets.data(),
                       t, comm_, &r.handle_),
        "MPI_Ialltoallv");
  return r;
}

void Communicator::barrier() {
  if (!uses_mpi()) return;
  Request r;
  r.op_ = "barrier";
  check(MPI_Ibarrier(comm_, &r.handle_), "MPI_Ibarrier");
  wait(r);
}

void Communicator::wait(Request& request) {
  if (!request.pending()) return;
  Watchdog::Scope watch(watchdog_, request.op_, &name_, request.detail_);
  check(MPI_Wait(&request.handle_, MPI_STATUS_IGNORE), "MPI_Wait");
}

void Communicator::wait_all(std::span<Request> requests) {
  for (Request& r : requests) wait(r);
}

bool Communicator::test(Request& request) {
  if (!request.pending()) return true;
  int done = 0;
  check(MPI_Test(&request.handle_, &done, MPI_STATUS_IGNORE), "MPI_Test");
  return done != 0;
}

}  // namespace primus::parallel
