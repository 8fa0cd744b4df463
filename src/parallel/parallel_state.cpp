#include "parallel/parallel_state.hpp"

#include "core/error.hpp"
#include "parallel/mpi_runtime.hpp"

namespace primus::parallel {

ParallelState::ParallelState(const ProcessGroups& layout) : layout_(layout) {}

std::unique_ptr<ParallelState> ParallelState::single_process() {
  std::unique_ptr<ParallelState> s(new ParallelState(ProcessGroups(ParallelSizes{})));
  s->coords_ = s->layout_.coordinates(0);
  for (GroupKind k : all_group_kinds()) {
    s->groups_[static_cast<std::size_t>(k)] = Communicator(std::string(group_name(k)));
    s->has_[static_cast<std::size_t>(k)] = true;
  }
  return s;
}

std::unique_ptr<ParallelState> ParallelState::from_mpi(const ProcessGroups& layout, Watchdog* watchdog) {
  MpiRuntime* mpi = MpiRuntime::current();
  if (!mpi) fail("internal: process groups over MPI requested before MPI_Init");
  if (mpi->size() != layout.world_size())
    fail("internal: layout for {} processes, MPI started {}", layout.world_size(), mpi->size());
  std::unique_ptr<ParallelState> s(new ParallelState(layout));
  const int rank = mpi->rank();
  s->coords_ = layout.coordinates(rank);
  const std::string world_name = "world";
  {
    MPI_Comm dup = MPI_COMM_NULL;
    Watchdog::Scope watch(watchdog, "creating communicators", &world_name);
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup", world_name);
    std::vector<int> all(static_cast<std::size_t>(layout.world_size()));
    for (int r = 0; r < layout.world_size(); ++r) all[static_cast<std::size_t>(r)] = r;
    s->world_ = Communicator(dup, world_name, std::move(all), watchdog);
  }
  for (GroupKind k : all_group_kinds()) {
    const std::string name(group_name(k));
    const int index = layout.group_index(k, rank);
    MPI_Comm comm = MPI_COMM_NULL;
    {
      Watchdog::Scope watch(watchdog, "creating communicators", &name);
      // Members are ordered by world rank, which is their order in the group's list (ascending).
      check_mpi(MPI_Comm_split(MPI_COMM_WORLD,
                               index < 0 ? MPI_UNDEFINED : index, rank, &comm),
                "MPI_Comm_split", name);
    }
    if (index < 0) continue;
    s->groups_[static_cast<std::size_t>(k)] = Communicator(comm, name, layout.groups(k)[static_cast<std::size_t>(index)], watchdog);
    s->has_[static_cast<std::size_t>(k)] = true;
  }
  return s;
}

Communicator& ParallelState::group(GroupKind kind) {
  if (!in_group(kind)) fail("internal: rank {} belongs to no {} group", rank(), group_name(kind));
  return groups_[static_cast<std::size_t>(kind)];
}

}  // namespace primus::parallel
