// The trainer's memory plan checked against the machine before the model's arena is allocated
// (core/memory_budget.hpp): the arena as the model labels it (parameters and gradients, the rest
// activations and scratch), the optimizer's state, the batch buffers and a reserve for what the
// plan cannot see, times the processes of this run on this machine. A plan that does not fit is
// refused with its breakdown and the settings that drive it; skip_memory_check: true turns the
// check off.
#pragma once

#include <memory>

#include "config/resolved_config.hpp"
#include "core/memory_budget.hpp"

namespace primus::train {

// Installed while the model is built; nullptr when the check is off or the machine's memory
// cannot be read. `optimizer_shards`: the processes the optimizer state is split over (the
// data-parallel size with the distributed optimizer, else 1).
std::unique_ptr<AllocationCheckScope> install_memory_check(const config::ResolvedConfig& config, int optimizer_shards);

// The check itself, for tests: throws primus::Error with the refusal when `arena_bytes` (labelled
// by `parts`) and the rest of the plan do not fit `available`.
void check_memory_plan(const config::ResolvedConfig& config, int optimizer_shards, std::uint64_t arena_bytes,
                       const std::vector<MemoryPlanItem>& parts, const AvailableMemory& available);

}  // namespace primus::train
