// Runs a launch script under /bin/bash as its own process group, with a given environment and
// working folder, output captured to a file and a time limit: when the limit passes, or when the
// script ends, the whole group is killed, so nothing it started outlives the dry run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace primus::migrate {

struct ScriptRunRequest {
  std::filesystem::path script;
  std::vector<std::string> args;          // the script's own arguments ($1, $2, ...)
  std::vector<std::string> environment;   // complete, "NAME=value"
  std::filesystem::path working_dir;
  std::filesystem::path output_log;       // stdout and stderr together
  double timeout_s = 60;
};

struct ScriptRunResult {
  int exit_code = 0;       // the script's exit status (128 + signal when killed by one)
  bool timed_out = false;
  std::string output_tail; // last lines of its output, for messages
};

ScriptRunResult run_script(const ScriptRunRequest& request);

// Last `max_lines` lines of a text file (empty when it cannot be read).
std::string tail_of_file(const std::filesystem::path& path, size_t max_lines);

}  // namespace primus::migrate
