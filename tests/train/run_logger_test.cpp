// Run folder creation and the Primus-style logger: folder layout, clear errors, sink levels
// (sink_level overriding both), which per-level files exist and what each holds, line formats.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/args.hpp"
#include "core/error.hpp"
#include "train/run_logger.hpp"

namespace primus::train {
namespace {

namespace fs = std::filesystem;

class RunLoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    scratch_ = fs::temp_directory_path() / (std::string("primus_runlog_") + info->name());
    fs::remove_all(scratch_);
    args_.workspace = (scratch_ / "output").string();
    args_.work_group = "amd";
    args_.user_name = "alice";
    args_.exp_name = "llama-test";
    args_.stderr_sink_level = "INFO";
    args_.file_sink_level = "DEBUG";
  }
  void TearDown() override { fs::remove_all(scratch_); }

  // The line of `text` containing `needle`, checked to start with "[YYYYMMDD HH:MM:SS]"; the rest
  // of the line after that stamp is returned ("" when absent or malformed).
  static std::string after_stamp(const std::string& text, const std::string& needle) {
    const std::size_t at = text.find(needle);
    if (at == std::string::npos) return "";
    const std::size_t begin = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
    const std::string line = text.substr(begin, text.find('\n', at) - begin);
    const std::string shape = "[dddddddd dd:dd:dd]";
    if (line.size() < shape.size()) return "";
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const bool ok = shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(line[i])) != 0 : line[i] == shape[i];
      if (!ok) return "";
    }
    return line.substr(shape.size());
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path scratch_;
  config::Args args_;
};

TEST_F(RunLoggerTest, CreatesTheRunFolder) {
  const RunPaths p = create_run_folder(args_);
  EXPECT_EQ(p.root, scratch_ / "output/amd/alice/llama-test");
  EXPECT_EQ(p.logs, p.root / "logs");
  EXPECT_EQ(p.checkpoints, p.root / "checkpoints");
  EXPECT_EQ(p.tensorboard, p.root / "tensorboard");
  for (const auto& d : {p.root, p.logs, p.checkpoints, p.tensorboard}) EXPECT_TRUE(fs::is_directory(d)) << d;
  // A second run into the same folder is fine.
  EXPECT_EQ(create_run_folder(args_).root, p.root);
  EXPECT_EQ(run_paths(args_).root, p.root);
}

TEST_F(RunLoggerTest, UncreatableFolderIsAClearError) {
  fs::create_directories(scratch_);
  std::ofstream(scratch_ / "output") << "not a folder";
  try {
    create_run_folder(args_);
    FAIL() << "expected primus::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot create the run folder"), std::string::npos) << msg;
    EXPECT_NE(msg.find("output"), std::string::npos) << msg;
  }
}

TEST_F(RunLoggerTest, SinkLevelsAndNames) {
  SinkLevels s = sink_levels(args_);
  EXPECT_EQ(s.stderr_level, spdlog::level::info);
  EXPECT_EQ(s.file_level, spdlog::level::debug);
  args_.sink_level = "warning";  // overrides both, case-insensitive
  s = sink_levels(args_);
  EXPECT_EQ(s.stderr_level, spdlog::level::warn);
  EXPECT_EQ(s.file_level, spdlog::level::warn);
  args_.sink_level = "LOUD";
  try {
    sink_levels(args_);
    FAIL() << "expected primus::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sink_level: unknown log level 'LOUD'"), std::string::npos) << e.what();
  }
  args_.sink_level.reset();
  args_.file_sink_level = "verbose";
  EXPECT_THROW(sink_levels(args_), Error);

  EXPECT_EQ(parse_log_level("TRACE", "k"), spdlog::level::trace);
  EXPECT_EQ(parse_log_level("Error", "k"), spdlog::level::err);
  EXPECT_EQ(parse_log_level("CRITICAL", "k"), spdlog::level::critical);
  EXPECT_EQ(parse_log_level("SUCCESS", "k"), spdlog::level::warn);
  EXPECT_EQ(primus_level_name(spdlog::level::warn), "WARNING");
  EXPECT_EQ(primus_level_name(spdlog::level::info), "INFO");
}

TEST_F(RunLoggerTest, PerLevelFilesAndStderr) {
  args_.file_sink_level = "INFO";
  args_.stderr_sink_level = "WARNING";
  const RunPaths p = create_run_folder(args_);
  RunLoggerOptions o;
  o.rank = 3;
  o.world_size = 8;
  testing::internal::CaptureStderr();
  {
    auto log = make_run_logger(args_, p, o);
    log->debug("a debug record");
    log->info("an info record with 100% progress");
    log->warn("a warning record");
    log->error("an error record");
    log->flush();
  }
  const std::string err = testing::internal::GetCapturedStderr();

  const fs::path dir = p.logs / "pre_trainer" / "rank-3";
  EXPECT_FALSE(fs::exists(dir / "debug.log"));  // below file_sink_level
  const std::string info = slurp(dir / "info.log");
  const std::string warning = slurp(dir / "warning.log");
  const std::string error = slurp(dir / "error.log");
  EXPECT_EQ(info.find("a debug record"), std::string::npos);
  EXPECT_NE(info.find("an info record with 100% progress"), std::string::npos) << info;
  EXPECT_NE(info.find("a warning record"), std::string::npos);
  EXPECT_NE(info.find("an error record"), std::string::npos);
  EXPECT_EQ(warning.find("an info record"), std::string::npos);
  EXPECT_NE(warning.find("a warning record"), std::string::npos);
  EXPECT_EQ(error.find("a warning record"), std::string::npos);
  EXPECT_NE(error.find("an error record"), std::string::npos);

  const std::string file_line = after_stamp(info, "an info record");
  EXPECT_EQ(file_line.rfind("[alice/amd][pre_trainer][ip-", 0), 0u) << info;
  const std::string tail = "][rank-3/8][INFO ] an info record with 100% progress";
  EXPECT_TRUE(file_line.size() > tail.size() && file_line.substr(file_line.size() - tail.size()) == tail) << info;
  EXPECT_NE(warning.find("[rank-3/8][WARNING] a warning record"), std::string::npos) << warning;

  // stderr at WARNING: no info line; Primus' console format.
  EXPECT_EQ(err.find("an info record"), std::string::npos) << err;
  // (stderr is captured to a file, not a tty: no colour codes.)
  EXPECT_EQ(after_stamp(err, "a warning record"), "[rank-3/8][WARNING] a warning record") << err;
  EXPECT_NE(err.find("an error record"), std::string::npos);
}

TEST_F(RunLoggerTest, FilesAppendAcrossRunsAndSinkLevelOverrides) {
  args_.sink_level = "ERROR";
  const RunPaths p = create_run_folder(args_);
  RunLoggerOptions o;
  o.to_stderr = false;
  for (int run = 0; run < 2; ++run) {
    auto log = make_run_logger(args_, p, o);
    log->warn("dropped");
    log->error("run {}", run);
  }
  const fs::path dir = p.logs / "pre_trainer" / "rank-0";
  EXPECT_FALSE(fs::exists(dir / "info.log"));
  EXPECT_FALSE(fs::exists(dir / "warning.log"));
  const std::string error = slurp(dir / "error.log");
  EXPECT_NE(error.find("run 0"), std::string::npos);
  EXPECT_NE(error.find("run 1"), std::string::npos);
  EXPECT_EQ(error.find("dropped"), std::string::npos);
}

TEST_F(RunLoggerTest, UnopenableLogFileIsAClearError) {
  const RunPaths p = create_run_folder(args_);
  fs::create_directories(p.logs / "pre_trainer" / "rank-0" / "debug.log");  // a folder where the file goes
  RunLoggerOptions o;
  o.to_stderr = false;
  try {
    make_run_logger(args_, p, o);
    FAIL() << "expected primus::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open the log file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::train
