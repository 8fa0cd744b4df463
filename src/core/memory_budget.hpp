// A run's memory plan checked against the memory the machine can give it, before anything is
// allocated: a plan that cannot fit is refused with its breakdown and the settings that drive it,
// instead of being discovered by the allocator (no key named) or by the kernel's OOM killer after
// minutes of touching pages.
//
// Available memory is the smallest of MemAvailable (/proc/meminfo) and, for every cgroup level
// above this process (v1 or v2), its limit minus its usage plus the page cache it can reclaim.
// A plan may take kPlanShareOfAvailable of it: the rest is for what the plan does not count (the
// allocator's slack, oneDNN's scratch, the data pipeline, the C++ runtime).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace primus {

inline constexpr double kPlanShareOfAvailable = 0.9;

struct AvailableMemory {
  std::uint64_t bytes = 0;
  std::string source;  // "MemAvailable in /proc/meminfo", "the cgroup limit of /sys/fs/cgroup/..."
};

// What this process can use now. `root` prefixes /proc and /sys (tests give a fake tree).
// nullopt when nothing can be read (no /proc): then no check is possible.
std::optional<AvailableMemory> available_memory(const std::filesystem::path& root = "/");

struct MemoryPlanItem {
  std::string what;     // "activations and workspaces (micro_batch_size 4 × seq_length 2048 × 32 layers)"
  std::uint64_t bytes;
};

struct MemoryPlan {
  std::vector<MemoryPlanItem> items;
  // Sum of the items, saturating at UINT64_MAX (a plan past it is refused all the same).
  std::uint64_t total() const;
  // "parameters and gradients 1.20 GiB, activations ... 18.00 GiB, optimizer state 0.80 GiB"
  std::string breakdown() const;
};

// The refusal for `plan` against `available`, or nullopt when the plan fits. `advice` says what to
// change ("lower micro_batch_size or seq_length, ...").
std::optional<std::string> memory_plan_refusal(const MemoryPlan& plan, const AvailableMemory& available,
                                               std::string_view advice);

// A check run by Arena::allocate() before it allocates and touches `bytes` (throwing stops the
// allocation); `parts` is what the arena's owner said the bytes hold (the rest is unlabelled).
// At most one is installed at a time; the scope removes it.
using AllocationCheck = std::function<void(std::uint64_t bytes, const std::vector<MemoryPlanItem>& parts)>;

class AllocationCheckScope {
 public:
  explicit AllocationCheckScope(AllocationCheck check);
  ~AllocationCheckScope();
  AllocationCheckScope(const AllocationCheckScope&) = delete;
  AllocationCheckScope& operator=(const AllocationCheckScope&) = delete;

  // Called by the arena; does nothing when no scope is installed.
  static void before_allocation(std::uint64_t bytes, const std::vector<MemoryPlanItem>& parts = {});
};

}  // namespace primus
