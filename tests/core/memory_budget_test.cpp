// Available memory read from /proc and the cgroup hierarchy (fake trees, v1 and v2), and the
// refusal of a plan that does not fit, with its breakdown.
#include "core/memory_budget.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/aligned.hpp"
#include "core/error.hpp"

namespace primus {
namespace {

namespace fs = std::filesystem;

class FakeRoot {
 public:
  FakeRoot() : root_(fs::temp_directory_path() / ("primus_mem_" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
  }
  ~FakeRoot() { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  const fs::path& path() const { return root_; }

 private:
  fs::path root_;
};

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

struct TreeCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> files;
  std::uint64_t bytes;
  std::string source;
};

class CoreAvailableMemory : public ::testing::TestWithParam<TreeCase> {};

TEST_P(CoreAvailableMemory, SmallestLimitWins) {
  FakeRoot root;
  for (const auto& [rel, text] : GetParam().files) root.write(rel, text);
  const auto got = available_memory(root.path());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, GetParam().bytes);
  EXPECT_NE(got->source.find(GetParam().source), std::string::npos) << got->source;
}

const std::string kMeminfo = "MemTotal:       24684100 kB\nMemFree:  100 kB\nMemAvailable:   20971520 kB\n";  // 20 GiB

const TreeCase kTrees[] = {
    {"meminfo_only", {{"proc/meminfo", kMeminfo}, {"proc/self/cgroup", "0::/\n"}}, 20 * kGiB, "MemAvailable in /proc/meminfo"},
    {"cgroup_v2_limit",
     {{"proc/meminfo", kMeminfo},
      {"proc/self/cgroup", "0::/user/job\n"},
      {"sys/fs/cgroup/user/job/memory.max", std::to_string(8 * kGiB) + "\n"},
      {"sys/fs/cgroup/user/job/memory.current", std::to_string(3 * kGiB) + "\n"},
      {"sys/fs/cgroup/user/job/memory.stat", "anon 1\ninactive_file " + std::to_string(kGiB) + "\n"},
      {"sys/fs/cgroup/user/memory.max", "max\n"}},
     6 * kGiB, "the cgroup limit of /sys/fs/cgroup/user/job (2.00 GiB of 8.00 GiB in use)"},
    {"cgroup_v2_parent_is_tighter",
     {{"proc/meminfo", kMeminfo},
      {"proc/self/cgroup", "0::/a/b\n"},
      {"sys/fs/cgroup/a/b/memory.max", "max\n"},
      {"sys/fs/cgroup/a/memory.max", std::to_string(4 * kGiB) + "\n"},
      {"sys/fs/cgroup/a/memory.current", std::to_string(kGiB) + "\n"}},
     3 * kGiB, "/sys/fs/cgroup/a ("},
    {"cgroup_v1_limit",
     {{"proc/meminfo", kMeminfo},
      {"proc/self/cgroup", "5:devices:/\n4:memory:/docker/x\n"},
      {"sys/fs/cgroup/memory/docker/x/memory.limit_in_bytes", std::to_string(2 * kGiB) + "\n"},
      {"sys/fs/cgroup/memory/docker/x/memory.usage_in_bytes", std::to_string(kGiB) + "\n"},
      {"sys/fs/cgroup/memory/docker/x/memory.stat", "total_inactive_file " + std::to_string(kGiB / 2) + "\n"},
      {"sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"}},
     kGiB + kGiB / 2, "/sys/fs/cgroup/memory/docker/x"},
    {"cgroup_namespace_hides_the_path",
     {{"proc/meminfo", kMeminfo},
      {"proc/self/cgroup", "0::/somewhere/else\n"},
      {"sys/fs/cgroup/memory.max", std::to_string(kGiB) + "\n"},
      {"sys/fs/cgroup/memory.current", "0\n"}},
     kGiB, "the cgroup limit of /sys/fs/cgroup "},
};

INSTANTIATE_TEST_SUITE_P(Trees, CoreAvailableMemory, ::testing::ValuesIn(kTrees),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CoreAvailableMemory, ThisMachineHasSome) {
  const auto got = available_memory();
  ASSERT_TRUE(got.has_value());
  EXPECT_GT(got->bytes, 0u);
}

TEST(CoreMemoryPlan, RefusalNamesTheBreakdownAndTheAdvice) {
  MemoryPlan plan{{{"parameters and gradients", 2 * kGiB}, {"activations (micro_batch_size 1024)", 17 * kGiB},
                   {"optimizer state", kGiB / 2}, {"nothing", 0}}};
  const AvailableMemory machine{21 * kGiB, "MemAvailable in /proc/meminfo"};
  const auto refusal = memory_plan_refusal(plan, machine, "lower micro_batch_size");
  ASSERT_TRUE(refusal.has_value());  // 19.5 GiB > 90 % of 21 GiB
  EXPECT_EQ(*refusal,
            "the memory plan needs 19.50 GiB (parameters and gradients 2.00 GiB, activations (micro_batch_size 1024) "
            "17.00 GiB, optimizer state 512.0 MiB) but 21.00 GiB are available (MemAvailable in /proc/meminfo; a plan "
            "may take 90 % of it); lower micro_batch_size");
  EXPECT_FALSE(memory_plan_refusal(plan, AvailableMemory{22 * kGiB, "x"}, "").has_value());
  MemoryPlan huge{{{"a", UINT64_MAX}, {"b", 5}}};
  EXPECT_EQ(huge.total(), UINT64_MAX);
  EXPECT_NE(memory_plan_refusal(huge, machine, "").value().find("needs more than 16 EiB"), std::string::npos);
}

TEST(CoreMemoryPlan, ArenaAsksTheInstalledCheckBeforeAllocating) {
  std::uint64_t asked = 0;
  {
    AllocationCheckScope scope([&](std::uint64_t bytes, const std::vector<MemoryPlanItem>&) {
      asked = bytes;
      if (bytes > 4096) throw Error("too much");
    });
    Arena small;
    small.reserve<float>(10);
    small.allocate();
    EXPECT_EQ(asked, 64u);
    Arena big;
    big.reserve<float>(100000);
    EXPECT_THROW(big.allocate(), Error);
    EXPECT_FALSE(big.allocated());
  }
  Arena after;  // no check installed any more
  after.reserve<float>(100000);
  EXPECT_NO_THROW(after.allocate());
}

TEST(CoreMemoryPlan, ArenaRefusesPlansPastTheAddressSpace) {
  Arena a;
  a.reserve<float>(SIZE_MAX / 8);
  EXPECT_THROW(a.reserve<float>(SIZE_MAX / 8), Error);
  Arena b;
  EXPECT_THROW(b.reserve<double>(SIZE_MAX / 4), Error);
}

}  // namespace
}  // namespace primus
