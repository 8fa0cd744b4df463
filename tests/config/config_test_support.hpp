// Helpers for the config tests: scratch experiment files and one-call resolution.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/resolved_config.hpp"
#include "core/error.hpp"

namespace primus::config {
// Readable values in gtest failure messages.
inline void PrintTo(const Value& v, std::ostream* os) { *os << v.to_yaml(); }
}  // namespace primus::config

namespace primus::config::testing {

inline std::filesystem::path source_dir() { return PRIMUS_SOURCE_DIR; }
inline std::filesystem::path examples_dir() { return source_dir() / "examples/megatron/configs"; }
inline std::filesystem::path upstream_dir() {
  return std::filesystem::path(PRIMUS_SHARED_DIR) / "upstream-primus/examples/megatron/configs";
}

// A fresh folder per test for the files it writes.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("primus_cfg_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline ResolvedConfig resolve_file(const std::filesystem::path& file, std::vector<std::string> overrides = {},
                                   std::optional<int64_t> world = 1) {
  return resolve(ResolveOptions{file, std::move(overrides), world});
}

// The primus::Error message of `fn`, or "" when it does not throw.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace primus::config::testing
