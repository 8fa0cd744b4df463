#include "checkpoint/checkpoint_group.hpp"

#include "core/error.hpp"

namespace primus::checkpoint {

void CheckpointGroup::agree(const std::string& error) {
  const std::vector<std::string> all = allgather(error);
  for (std::size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) {
      if (size() > 1 && static_cast<int>(r) != rank()) throw Error(all[r] + " (on rank " + std::to_string(r) + ")");
      throw Error(all[r]);
    }
}

bool CheckpointGroup::all(bool flag) {
  for (const std::string& v : allgather(flag ? "1" : "0"))
    if (v != "1") return false;
  return true;
}

}  // namespace primus::checkpoint
