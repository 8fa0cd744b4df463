// Obtains the exact argument list a launch script would pass to pretrain_gpt.py by running the
// script itself under bash in a dry-run sandbox (fake launchers and probes first on PATH, a
// scratch copy of the script's folder as working directory, KEY=VALUE given both as environment
// and as the script's arguments, a time limit). Bash is the only faithful interpreter of bash.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "migrate/launch_command.hpp"

namespace primus::migrate {

struct CaptureOptions {
  std::filesystem::path script;
  std::vector<std::string> script_args;  // KEY=VALUE (also exported) or plain positional arguments
  int64_t gpus = 8;                      // GPUs per node the probes report
  double timeout_s = 60;
  size_t launch_index = 1;               // which training launch to take when the script makes several
  bool keep_scratch = false;             // leave the sandbox folder for inspection
};

struct CaptureResult {
  LaunchCommand launch;                   // the chosen training launch
  std::vector<LaunchCommand> launches;    // every launcher call, in order
  int script_exit_code = 0;
  std::string script_output_tail;
  std::filesystem::path scratch;          // set when kept
};

// Throws primus::Error when the script never reaches a launcher (naming its exit code and last
// output lines) or runs past the time limit.
CaptureResult capture_launch(const CaptureOptions& options);

}  // namespace primus::migrate
