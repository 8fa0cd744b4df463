#include "parallel/collective_error.hpp"

#include <cstdint>
#include <exception>
#include <limits>

#include <fmt/format.h>

namespace primus::parallel {

void run_agreed(Communicator& group, const std::function<void()>& step, bool on_behalf_of_all) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const CollectiveError&) {
    throw;  // already agreed by a nested step
  } catch (const std::exception& e) {
    if (!group.uses_mpi()) throw;
    failed = true;
    message = e.what();
    if (!dynamic_cast<const Error*>(&e)) message = "internal error: " + message;
  }
  if (!group.uses_mpi()) return;
  std::int64_t count = failed ? 1 : 0;
  group.allreduce(&count, 1);
  if (count == 0) return;
  // Did every rank fail with the same message? Compare the messages' hashes (max and -min).
  const auto h = static_cast<std::int64_t>(std::hash<std::string>{}(message) >> 1);
  std::int64_t extremes[2] = {failed ? h : std::numeric_limits<std::int64_t>::min(),
                              failed ? -h : std::numeric_limits<std::int64_t>::min()};
  group.allreduce(extremes, 2, ReduceOp::Max);
  const bool same_everywhere = count == group.size() && extremes[0] == -extremes[1];
  if (!failed) throw CollectiveError(fmt::format("{} of {} ranks failed", count, group.size()), false);
  if (same_everywhere) throw CollectiveError(message, group.rank() == 0);
  if (on_behalf_of_all && count == 1) throw CollectiveError(message, true);
  throw CollectiveError(fmt::format("[rank {}/{}] {}", group.world_ranks()[static_cast<std::size_t>(group.rank())],
                                    group.size(), message),
                        true);
}

}  // namespace primus::parallel
