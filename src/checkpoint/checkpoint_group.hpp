// The few collective operations a checkpoint save or load needs, over the processes that take
// part (every rank of the run). The checkpoint code depends on this interface only, so it works
// the same on one process (SingleProcessGroup) and under MPI (the trainer adapts its world
// communicator), and tests can drive it without mpirun.
#pragma once

#include <string>
#include <vector>

namespace primus::checkpoint {

class CheckpointGroup {
 public:
  virtual ~CheckpointGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank's text, in rank order (collective).
  virtual std::vector<std::string> allgather(const std::string& text) = 0;

  // Rank 0's text on every rank.
  std::string broadcast_from_0(const std::string& text) { return allgather(rank() == 0 ? text : std::string())[0]; }
  // Collective agreement on failure: when any rank's `error` is non-empty, every rank throws
  // an error with the first such message (naming its rank when another rank met it). Virtual so
  // that an MPI group can throw the error type its launcher reports once for all ranks.
  virtual void agree(const std::string& error);
  // True on every rank when `flag` is true on every rank.
  bool all(bool flag);
};

class SingleProcessGroup final : public CheckpointGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::string> allgather(const std::string& text) override { return {text}; }
};

}  // namespace primus::checkpoint
