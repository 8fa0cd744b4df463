// This process's place in the layout (Megatron-Core's parallel_state): its coordinates and one
// Communicator for every group that holds it. Data parallelism uses dp / dp_cp; tensor, context,
// pipeline and expert parallelism get their communicators here by GroupKind.
//
// from_mpi() builds every communicator with one MPI_Comm_split per kind (ranks ordered as in the
// group's rank list, which is ascending). single_process() is the same object for a world of one
// without MPI: every group is this process alone and every collective is the identity — the
// one-process engine runs the same code path.
#pragma once

#include <array>
#include <memory>

#include "parallel/communicator.hpp"
#include "parallel/process_groups.hpp"

namespace primus::parallel {

class ParallelState {
 public:
  static std::unique_ptr<ParallelState> single_process();
  // Collective over MPI_COMM_WORLD: every rank must call it with the same layout.
  static std::unique_ptr<ParallelState> from_mpi(const ProcessGroups& layout, Watchdog* watchdog);

  const ProcessGroups& layout() const { return layout_; }
  const RankCoordinates& coordinates() const { return coords_; }
  int rank() const { return coords_.rank; }
  int world_size() const { return layout_.world_size(); }
  bool is_last_rank() const { return rank() == world_size() - 1; }

  Communicator& world() { return world_; }
  // This rank's group of a kind; primus::Error when the rank is in none (embedding groups).
  Communicator& group(GroupKind kind);
  bool in_group(GroupKind kind) const { return has_[static_cast<std::size_t>(kind)]; }

  Communicator& tp() { return group(GroupKind::TensorParallel); }
  Communicator& pp() { return group(GroupKind::PipelineParallel); }
  Communicator& cp() { return group(GroupKind::ContextParallel); }
  Communicator& dp() { return group(GroupKind::DataParallel); }
  Communicator& dp_cp() { return group(GroupKind::DataParallelWithCp); }
  Communicator& mp() { return group(GroupKind::ModelParallel); }
  Communicator& ep() { return group(GroupKind::ExpertModelParallel); }
  Communicator& expert_dp() { return group(GroupKind::ExpertDataParallel); }

 private:
  explicit ParallelState(const ProcessGroups& layout);

  ProcessGroups layout_;
  RankCoordinates coords_;
  Communicator world_{"world"};
  std::array<Communicator, kNumGroupKinds> groups_;
  std::array<bool, kNumGroupKinds> has_{};
};

}  // namespace primus::parallel
