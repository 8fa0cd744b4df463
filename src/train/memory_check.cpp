#include "train/memory_check.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::train {

namespace {

// What the plan does not see: the allocator's slack, oneDNN's scratch, communication buffers, the
// C++ and MPI runtimes.
constexpr std::uint64_t kRuntimeReserve = std::uint64_t{256} << 20;

// Processes of this run on this machine (mpirun and torchrun-style launchers say so).
std::uint64_t processes_here() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "LOCAL_WORLD_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name); v && *v) {
      const long n = std::strtol(v, nullptr, 10);
      if (n >= 1 && n <= (1 << 20)) return static_cast<std::uint64_t>(n);
    }
  return 1;
}

std::string setting(const config::ResolvedConfig& c, const std::string& key) {
  return fmt::format("{} {}", key, c.at(key).value.to_display());
}

}  // namespace

void check_memory_plan(const config::ResolvedConfig& c, int optimizer_shards, std::uint64_t arena_bytes,
                       const std::vector<MemoryPlanItem>& parts, const AvailableMemory& available) {
  const config::Args& a = c.args;
  MemoryPlan plan;
  std::uint64_t labelled = 0, parameters = 0;
  for (const auto& part : parts) {
    plan.items.push_back(part);
    labelled += part.bytes;
    // The model labels its fp32 parameters and gradients (and the bf16 copy): 8 or 10 bytes each.
    if (parameters == 0) parameters = part.bytes / (a.bf16 ? 10 : 8);
  }
  const std::string recompute = a.recompute_granularity.value_or("none");
  plan.items.push_back({fmt::format("activations and scratch ({} × {} × {} layers, recompute_granularity {})",
                                    setting(c, "micro_batch_size"), setting(c, "seq_length"), a.num_layers, recompute),
                        arena_bytes > labelled ? arena_bytes - labelled : 0});
  // Adam keeps exp_avg and exp_avg_sq, SGD its momentum: fp32 per parameter of this rank's shard.
  const std::uint64_t per_param = a.optimizer == "sgd" ? (a.sgd_momentum > 0 ? 4 : 0) : 8;
  plan.items.push_back({"optimizer state", parameters * per_param / static_cast<std::uint64_t>(std::max(1, optimizer_shards))});
  const auto tokens = static_cast<std::uint64_t>(a.num_micro_batches * a.micro_batch_size * a.seq_length);
  plan.items.push_back({"batch buffers", tokens * 12});
  plan.items.push_back({"runtime reserve", kRuntimeReserve});
  const std::uint64_t here = processes_here();
  // Every process of this machine plans the same: they share its memory.
  for (auto& item : plan.items) item.bytes *= here;
  const std::string advice = fmt::format(
      "{}lower micro_batch_size or seq_length, set recompute_granularity: full (recompute_method: uniform), shard the "
      "optimizer over more processes (use_distributed_optimizer), or set skip_memory_check: true to try anyway",
      here > 1 ? fmt::format("(the plan counts the {} processes of this run on this machine) ", here) : "");
  if (auto refusal = memory_plan_refusal(plan, available, advice)) throw Error(*refusal);
}

std::unique_ptr<AllocationCheckScope> install_memory_check(const config::ResolvedConfig& c, int optimizer_shards) {
  if (c.args.skip_memory_check) return nullptr;
  const auto available = available_memory();
  if (!available) return nullptr;
  return std::make_unique<AllocationCheckScope>(
      [&c, optimizer_shards, machine = *available](std::uint64_t bytes, const std::vector<MemoryPlanItem>& parts) {
        check_memory_plan(c, optimizer_shards, bytes, parts, machine);
      });
}

}  // namespace primus::train
