// Run folder and Primus-style logger; see the header.
#include "train/run_logger.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <system_error>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.hpp"

namespace primus::train {

namespace {

namespace fs = std::filesystem;

// "%*" in the patterns below: the Primus level name, padded to 5 like loguru's {level: <5}.
class PrimusLevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view name = primus_level_name(msg.level);
    dest.append(name.data(), name.data() + name.size());
    for (std::size_t i = name.size(); i < 5; ++i) dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PrimusLevelFlag>(); }
};

std::unique_ptr<spdlog::formatter> primus_formatter(const std::string& pattern) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<PrimusLevelFlag>('*').set_pattern(pattern);
  return f;
}

// spdlog patterns are not fmt strings, but '%' in user text (names) must still be escaped.
std::string escape_pattern(std::string_view text) {
  std::string out;
  for (char c : text) {
    out.push_back(c);
    if (c == '%') out.push_back('%');
  }
  return out;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

void make_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    fail("cannot create the run folder {}: {} (check workspace / work_group / user_name / exp_name)", dir.string(),
         ec ? ec.message() : "a file with that name exists");
}

}  // namespace

RunPaths run_paths(const config::Args& args) {
  RunPaths p;
  p.root = fs::path(args.workspace) / args.work_group / args.user_name / args.exp_name;
  p.logs = p.root / "logs";
  p.checkpoints = p.root / "checkpoints";
  p.tensorboard = p.root / "tensorboard";
  return p;
}

RunPaths create_run_folder(const config::Args& args) {
  RunPaths p = run_paths(args);
  for (const fs::path& dir : {p.root, p.logs, p.checkpoints, p.tensorboard}) make_folder(dir);
  return p;
}

spdlog::level::level_enum parse_log_level(std::string_view name, std::string_view key) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper == "TRACE") return spdlog::level::trace;
  if (upper == "DEBUG") return spdlog::level::debug;
  if (upper == "INFO") return spdlog::level::info;
  if (upper == "SUCCESS" || upper == "WARNING" || upper == "WARN") return spdlog::level::warn;
  if (upper == "ERROR") return spdlog::level::err;
  if (upper == "CRITICAL") return spdlog::level::critical;
  fail("{}: unknown log level '{}' (expected TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR or CRITICAL)", key, name);
}

std::string_view primus_level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "TRACE";
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARNING";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "CRITICAL";
    default: return "OFF";
  }
}

SinkLevels sink_levels(const config::Args& args) {
  SinkLevels s;
  if (args.sink_level) {
    s.stderr_level = s.file_level = parse_log_level(*args.sink_level, "sink_level");
  } else {
    s.stderr_level = parse_log_level(args.stderr_sink_level, "stderr_sink_level");
    s.file_level = parse_log_level(args.file_sink_level, "file_sink_level");
  }
  return s;
}

std::shared_ptr<spdlog::logger> make_run_logger(const config::Args& args, const RunPaths& paths,
                                                const RunLoggerOptions& options) {
  const SinkLevels levels = sink_levels(args);
  const std::string rank = fmt::format("rank-{}/{}", options.rank, options.world_size);
  std::vector<spdlog::sink_ptr> sinks;

  if (options.to_stderr) {
    auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    err->set_level(levels.stderr_level);
    err->set_formatter(primus_formatter("[%Y%m%d %H:%M:%S][" + rank + "][%^%*%$] %v"));
    sinks.push_back(std::move(err));
  }

  const fs::path dir = paths.logs / options.module_name / fmt::format("rank-{}", options.rank);
  make_folder(dir);
  const std::string file_pattern =
      "[%Y%m%d %H:%M:%S][" + escape_pattern(args.user_name + "/" + args.work_group) + "][" +
      escape_pattern(fmt::format("{:<11}", options.module_name)) + "][ip-" + escape_pattern(host_name()) + "][" +
      rank + "][%*] %v";
  constexpr std::array<std::pair<const char*, spdlog::level::level_enum>, 4> kFileLevels = {{
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warning", spdlog::level::warn},
      {"error", spdlog::level::err},
  }};
  for (const auto& [name, level] : kFileLevels) {
    if (level < levels.file_level) continue;
    const fs::path file = dir / (std::string(name) + ".log");
    try {
      auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), /*truncate=*/false);
      sink->set_level(level);
      sink->set_formatter(primus_formatter(file_pattern));
      sinks.push_back(std::move(sink));
    } catch (const spdlog::spdlog_ex& e) {
      fail("cannot open the log file {}: {}", file.string(), e.what());
    }
  }

  auto logger = std::make_shared<spdlog::logger>("primus", sinks.begin(), sinks.end());
  spdlog::level::level_enum lowest = spdlog::level::off;
  for (const auto& s : sinks) lowest = std::min(lowest, s->level());
  logger->set_level(lowest);
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace primus::train
