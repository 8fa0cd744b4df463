// The run folder and the run's logger, laid out the way Primus users know them
// (primus-config.md; Primus' primus/core/utils/logger.py, read and re-expressed with spdlog):
//
//   <workspace>/<work_group>/<user_name>/<exp_name>/         the run folder
//       logs/<module>/rank-<r>/{debug,info,warning,error}.log
//       checkpoints/
//       tensorboard/
//
// Logging, as Primus does it with loguru:
//  * stderr sink at stderr_sink_level (default INFO):
//      [YYYYMMDD HH:MM:SS][rank-<r>/<world>][LEVEL] message          (level coloured on a tty)
//  * one file per level L in {debug, info, warning, error} with L ≥ file_sink_level (default
//    DEBUG), each holding every record at level ≥ L, appended to across runs, in Primus' file
//    format:
//      [YYYYMMDD HH:MM:SS][<user_name>/<work_group>][<module, 11 wide>][ip-<node>][rank-<r>/<world>][LEVEL] message
//    (per-rank folders, so ranks never share a file; <node> is the host name). Unlike loguru's
//    10 MB rotation (which keeps every rotated file), each file simply grows: same total size,
//    one file to read;
//  * sink_level, when set, replaces both levels.
// Level names are loguru's, case-insensitive: TRACE, DEBUG, INFO, SUCCESS, WARNING (or WARN),
// ERROR, CRITICAL. spdlog has no SUCCESS level; a sink at SUCCESS keeps WARNING and above (what
// loguru's SUCCESS threshold lets through from the levels this engine logs at).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "config/args.hpp"

namespace primus::train {

struct RunPaths {
  std::filesystem::path root;         // workspace/work_group/user_name/exp_name
  std::filesystem::path logs;         // root/logs
  std::filesystem::path checkpoints;  // root/checkpoints
  std::filesystem::path tensorboard;  // root/tensorboard
};

// The run folder's paths for `args` (no filesystem access).
RunPaths run_paths(const config::Args& args);

// Creates the run folder and logs/, checkpoints/, tensorboard/ (existing folders are kept).
// Throws primus::Error naming the folder and the system's reason when one cannot be created.
RunPaths create_run_folder(const config::Args& args);

// A Primus level name → spdlog level; primus::Error naming `key` and the accepted names otherwise.
spdlog::level::level_enum parse_log_level(std::string_view name, std::string_view key);
// spdlog level → the name Primus prints (DEBUG, INFO, WARNING, ERROR, ...).
std::string_view primus_level_name(spdlog::level::level_enum level);

struct SinkLevels {
  spdlog::level::level_enum stderr_level = spdlog::level::info;
  spdlog::level::level_enum file_level = spdlog::level::debug;
};
// stderr_sink_level / file_sink_level, both replaced by sink_level when that is set.
SinkLevels sink_levels(const config::Args& args);

struct RunLoggerOptions {
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string module_name = "pre_trainer";  // Primus' module folder under logs/
  bool to_stderr = true;                    // false: files only (e.g. quiet ranks)
};

// The run's logger: stderr and per-level file sinks as described above, under paths.logs.
// Not registered with spdlog's global registry (callers may set_default_logger it). Flushes on
// every record at INFO or above, so the files follow training live. Throws primus::Error when a
// log file cannot be opened.
std::shared_ptr<spdlog::logger> make_run_logger(const config::Args& args, const RunPaths& paths,
                                                const RunLoggerOptions& options = {});

}  // namespace primus::train
