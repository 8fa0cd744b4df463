// Errors on several processes, turned into one clear exit.
//
// A CollectiveError is raised by every rank at the same point: either because the decision was
// made from values every rank shares (the NaN check on the reduced loss and gradient norm), or
// because the ranks agreed on a failure (run_agreed). Every rank can then leave normally — MPI is
// finalised, nothing hangs, no abort — and the message is printed by the ranks that should print
// it: once (by rank 0) when every rank failed the same way, else by each failing rank with its
// rank. Any other primus::Error on one rank of several aborts the whole job (mpi_runtime.hpp).
#pragma once

#include <functional>
#include <string>

#include "core/error.hpp"
#include "parallel/communicator.hpp"

namespace primus::parallel {

class CollectiveError : public Error {
 public:
  CollectiveError(const std::string& message, bool print_here) : Error(message), print_here_(print_here) {}
  // Whether this rank prints the message (the others stay quiet).
  bool print_here() const { return print_here_; }

 private:
  bool print_here_;
};

// Runs `step` on every rank of `group`, then agrees on the outcome (two small all-reduces): if no
// rank failed, returns; if any did, every rank throws CollectiveError. On a group of one process
// without MPI the step's own exception propagates unchanged. `on_behalf_of_all`: the step does
// work for every rank on some ranks only (e.g. rank 0 builds the data index first), so a failure
// there is everyone's and is printed without the rank.
void run_agreed(Communicator& group, const std::function<void()>& step, bool on_behalf_of_all = false);

}  // namespace primus::parallel
