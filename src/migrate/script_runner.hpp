// Runs a launch script under /bin/bash in a sandbox it cannot escape or outlive.
//
//  * The script runs in its own session and process group, under a small supervisor process that
//    ignores every catchable signal: `kill $PPID` or `kill 0` from the script cannot stop primus,
//    and a script that SIGKILLs its parent is reported as such.
//  * Everything the script starts is tracked as a descendant of this process (made a child
//    subreaper, so that `setsid`, double-forked and backgrounded children stay in the tree); when
//    the script ends, runs past its time limit, floods its output, or primus receives SIGINT,
//    SIGTERM or SIGHUP, every one of them is killed (SIGKILL) before run_script returns.
//  * If primus itself is killed outright (SIGKILL), the supervisor and bash die with it
//    (PR_SET_PDEATHSIG); only grandchildren the script started can then survive.
//  * stdout and stderr go through a pipe into output_log, at most max_output_bytes of them.
#pragma once

#include <cstdint>
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
  double timeout_s = 60;                  // finite and positive
  std::uint64_t max_output_bytes = 16u << 20;
};

struct ScriptRunResult {
  int exit_code = 0;             // the script's exit status (128 + signal when killed by one)
  bool timed_out = false;
  bool output_capped = false;    // stopped for writing more than max_output_bytes
  int parent_killed_by = 0;      // the script killed its supervisor with this signal (SIGKILL)
  std::uint64_t output_bytes = 0;
  std::string output_tail;       // last lines of its output, for messages
};

// Throws primus::Error for an invalid request; primus::Interrupted when this process received
// SIGINT/SIGTERM/SIGHUP meanwhile (after stopping the script and everything it started).
ScriptRunResult run_script(const ScriptRunRequest& request);

}  // namespace primus::migrate
