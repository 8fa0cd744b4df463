// Runs a launch script under /bin/bash in a sandbox it cannot escape or outlive.
//
//  * bash runs under a small supervisor process in a new session (its own process group). The
//    supervisor ignores every catchable signal, so `kill $PPID` or `kill 0` from the script cannot
//    stop primus; a script that SIGKILLs it is reported as having killed its parent.
//  * The supervisor is a child subreaper: whatever the script starts — background jobs, double
//    forks, `setsid` children that left its group and session — stays below it. When bash ends,
//    or primus asks (time limit, output cap, SIGINT/SIGTERM/SIGHUP) or is gone (even after
//    SIGKILL: the supervisor reads end-of-file on a control pipe only primus holds), the supervisor
//    kills every process below it before it exits. primus is a subreaper too and stops whatever
//    the script re-parented to it should the supervisor itself be killed.
//  * stdout and stderr go through a pipe into output_log, at most max_output_bytes of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace primus::migrate {

struct ScriptRunRequest {
  std::filesystem::path script;
  std::string display_name;               // the script as the user named it (default: script)
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
