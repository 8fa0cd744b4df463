#include "core/memory_budget.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "core/input_file.hpp"

namespace fs = std::filesystem;

namespace primus {

namespace {

std::optional<std::uint64_t> read_number_file(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;  // "max": no limit
  return v;
}

// "key value" lines (memory.stat) or "Key: value kB" lines (meminfo).
std::optional<std::uint64_t> read_field(const fs::path& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string name;
    std::uint64_t value = 0;
    if (!(words >> name >> value)) continue;
    if (!name.empty() && name.back() == ':') name.pop_back();
    if (name == key) return value;
  }
  return std::nullopt;
}

struct Limit {
  std::uint64_t available;
  std::string source;
};

// One cgroup level: limit − usage + reclaimable page cache, when it has a limit.
std::optional<Limit> cgroup_level(const fs::path& dir, bool v2, const fs::path& root) {
  const auto limit = read_number_file(dir / (v2 ? "memory.max" : "memory.limit_in_bytes"));
  // v1 writes "no limit" as a number near 2^63.
  if (!limit || *limit >= (std::uint64_t{1} << 62)) return std::nullopt;
  const auto usage = read_number_file(dir / (v2 ? "memory.current" : "memory.usage_in_bytes")).value_or(0);
  auto reclaimable = read_field(dir / "memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  if (!reclaimable && !v2) reclaimable = read_field(dir / "memory.stat", "inactive_file");
  const std::uint64_t used = usage - std::min(usage, reclaimable.value_or(0));
  const std::uint64_t available = *limit > used ? *limit - used : 0;
  fs::path shown = fs::path("/") / dir.lexically_relative(root);
  return Limit{available, fmt::format("the cgroup limit of {} ({} of {} in use)", shown.string(),
                                      format_bytes(used), format_bytes(*limit))};
}

// Every level from this process's cgroup up to the hierarchy's root.
void cgroup_limits(const fs::path& root, std::vector<Limit>& out) {
  std::ifstream in(root / "proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path = line.substr(c2 + 1);
    bool v2 = line.substr(0, c1) == "0" && controllers.empty();
    bool v1 = false;
    std::istringstream names(controllers);
    for (std::string n; std::getline(names, n, ',');) v1 |= n == "memory";
    if (!v1 && !v2) continue;
    const fs::path base = v2 ? root / "sys/fs/cgroup" : root / "sys/fs/cgroup/memory";
    std::error_code ec;
    if (!fs::is_directory(base, ec)) continue;
    fs::path dir = (base / fs::path(path).relative_path()).lexically_normal();
    if (!fs::is_directory(dir, ec)) dir = base;  // a cgroup namespace hides the path: start at its root
    for (fs::path d = dir;; d = d.parent_path()) {
      if (auto l = cgroup_level(d, v2, root)) out.push_back(*l);
      if (d == base || d.lexically_relative(base).empty() || d == d.parent_path()) break;
    }
  }
}

std::mutex g_check_mutex;
AllocationCheck g_check;

}  // namespace

std::optional<AvailableMemory> available_memory(const fs::path& root) {
  std::vector<Limit> limits;
  if (const auto kb = read_field(root / "proc/meminfo", "MemAvailable"))
    limits.push_back({*kb * 1024, "MemAvailable in /proc/meminfo"});
  cgroup_limits(root, limits);
  if (limits.empty()) return std::nullopt;
  const auto best = std::min_element(limits.begin(), limits.end(),
                                     [](const Limit& a, const Limit& b) { return a.available < b.available; });
  return AvailableMemory{best->available, best->source};
}

std::uint64_t MemoryPlan::total() const {
  std::uint64_t sum = 0;
  for (const auto& item : items) {
    if (item.bytes > std::numeric_limits<std::uint64_t>::max() - sum) return std::numeric_limits<std::uint64_t>::max();
    sum += item.bytes;
  }
  return sum;
}

std::string MemoryPlan::breakdown() const {
  std::string out;
  for (const auto& item : items) {
    if (item.bytes == 0) continue;
    out += (out.empty() ? "" : ", ") + item.what + " " + format_bytes(item.bytes);
  }
  return out;
}

std::optional<std::string> memory_plan_refusal(const MemoryPlan& plan, const AvailableMemory& available,
                                               std::string_view advice) {
  const std::uint64_t total = plan.total();
  const double allowed = static_cast<double>(available.bytes) * kPlanShareOfAvailable;
  if (static_cast<double>(total) <= allowed) return std::nullopt;
  const std::string needed = total == std::numeric_limits<std::uint64_t>::max() ? "more than 16 EiB" : format_bytes(total);
  return fmt::format("the memory plan needs {} ({}) but {} are available ({}; a plan may take {:.0f} % of it); {}",
                     needed, plan.breakdown(), format_bytes(available.bytes), available.source,
                     kPlanShareOfAvailable * 100, advice);
}

AllocationCheckScope::AllocationCheckScope(AllocationCheck check) {
  std::lock_guard lock(g_check_mutex);
  g_check = std::move(check);
}

AllocationCheckScope::~AllocationCheckScope() {
  std::lock_guard lock(g_check_mutex);
  g_check = nullptr;
}

void AllocationCheckScope::before_allocation(std::uint64_t bytes, const std::vector<MemoryPlanItem>& parts) {
  AllocationCheck check;
  {
    std::lock_guard lock(g_check_mutex);
    check = g_check;
  }
  if (check) check(bytes, parts);
}

}  // namespace primus
