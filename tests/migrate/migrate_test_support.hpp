// Helpers for the migration tests: paths to the launch scripts, a folder per test, a one-call
// migration of a script through the library, and running the built `primus` binary.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/value.hpp"
#include "core/error.hpp"
#include "migrate/launch_capture.hpp"
#include "migrate/migration.hpp"

namespace primus::config {
inline void PrintTo(const Value& v, std::ostream* os) { *os << v.to_yaml(); }
}  // namespace primus::config

namespace primus::migrate::testing {

inline std::filesystem::path source_dir() { return PRIMUS_SOURCE_DIR; }
inline std::filesystem::path reference_script(const std::string& name) {
  return std::filesystem::path(PRIMUS_SHARED_DIR) / "reference/megatron-scripts" / name;
}
inline std::filesystem::path test_script(const std::string& name) {
  return source_dir() / "tests/migrate/scripts" / name;
}

// A fresh folder per test for what it writes.
class TestDir {
 public:
  TestDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("primus_migrate_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Migrated {
  CaptureResult capture;
  MigrationRequest request;
  MigrationResult result;

  const config::Value& value(const std::string& key) const { return result.resolved.at(key).value; }
  int64_t integer(const std::string& key) const { return value(key).as_int(); }
};

inline Migrated migrate_script(const std::filesystem::path& script, std::vector<std::string> args,
                               const std::filesystem::path& output, int64_t gpus = 8, bool keep_unknown = false) {
  Migrated m;
  CaptureOptions capture;
  capture.script = script;
  capture.script_args = std::move(args);
  capture.gpus = gpus;
  capture.timeout_s = 30;
  m.capture = capture_launch(capture);
  m.request.launch = m.capture.launch;
  m.request.output_dir = output;
  m.request.default_stem = script.stem().string();
  m.request.source = script.filename().string();
  m.request.keep_unknown = keep_unknown;
  m.result = migrate(m.request);
  return m;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs the built binary with `args` (each single-quoted for the shell), from the repository root.
inline CommandResult run_primus(const std::vector<std::string>& args) {
  std::string command = "cd '";
  command += source_dir().string();
  command += "' && '";
  command += PRIMUS_BINARY;
  command += "'";
  for (const auto& a : args) {
    std::string quoted = "'";
    for (char c : a) {
      if (c == '\'') quoted += "'\\''";
      else quoted += c;
    }
    command += " " + quoted + "'";
  }
  command += " 2>&1";
  CommandResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace primus::migrate::testing
