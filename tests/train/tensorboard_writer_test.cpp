// TensorBoardWriter: files written here are read back by the independent pure-Python reader
// tools/reference/train/read_tfevents.py (TFRecord framing, both CRCs, Event protobuf fields),
// run through /usr/bin/python3.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "train/tensorboard_writer.hpp"

namespace primus::train {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("primus_tb_") + info->name());
    fs::remove_all(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct CommandResult {
  int status = -1;
  std::string out;
};

CommandResult run(const std::string& command) {
  CommandResult r;
  std::FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  return r;
}

CommandResult read_back(const fs::path& file) {
  return run("/usr/bin/python3 " + std::string(PRIMUS_SOURCE_DIR) + "/tools/reference/train/read_tfevents.py '" +
             file.string() + "'");
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path());
  return out;
}

TEST(Crc32c, KnownVectors) {
  const std::string digits = "123456789";
  const std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(digits.data()), digits.size());
  EXPECT_EQ(crc32c(bytes), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c({}), 0u);
  const uint32_t c = 0xE3069283u;
  EXPECT_EQ(masked_crc32c(bytes), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoardWriter, ScalarsReadBackByIndependentReader) {
  ScratchDir dir;
  fs::path file;
  {
    TensorBoardWriter w(dir.path() / "tensorboard");  // created on demand
    file = w.path();
    EXPECT_EQ(file.parent_path(), dir.path() / "tensorboard");
    EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u) << file;
    w.add_scalar("lm loss", 10.25, 1, 1700000000.5);
    w.add_scalar("learning-rate", 3.0e-4, 1, 1700000000.75);
    w.add_scalar("lm loss vs samples", 9.5, 128, 1700000001.0);
    w.add_scalar("grad-norm", -0.125, 0, 1700000001.25);  // step 0 is omitted on the wire
    w.add_scalar(std::string(300, 't'), 1e30, int64_t{1} << 40, 1700000002.0);  // multi-byte varints
    w.add_scalar("negative step", 2.0, -3, 1700000003.0);
    w.flush();
    w.add_scalar("after flush", 7.0, 2);  // written by the destructor
  }
  const CommandResult r = read_back(file);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto events = nlohmann::json::parse(r.out)["events"];
  ASSERT_EQ(events.size(), 8u) << r.out;

  EXPECT_EQ(events[0]["file_version"], "brain.Event:2");
  EXPECT_TRUE(events[0]["values"].empty());
  EXPECT_GT(events[0]["wall_time"].get<double>(), 1.7e9);

  struct Want {
    std::string tag;
    double value;
    int64_t step;
    double wall;
  };
  const std::vector<Want> want = {
      {"lm loss", 10.25, 1, 1700000000.5},
      {"learning-rate", 3.0e-4, 1, 1700000000.75},
      {"lm loss vs samples", 9.5, 128, 1700000001.0},
      {"grad-norm", -0.125, 0, 1700000001.25},
      {std::string(300, 't'), 1e30, int64_t{1} << 40, 1700000002.0},
      {"negative step", 2.0, -3, 1700000003.0},
  };
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& e = events[i + 1];
    SCOPED_TRACE(want[i].tag.substr(0, 20));
    EXPECT_TRUE(e["file_version"].is_null());
    EXPECT_EQ(e["step"].get<int64_t>(), want[i].step);
    EXPECT_EQ(e["wall_time"].get<double>(), want[i].wall);
    ASSERT_EQ(e["values"].size(), 1u);
    EXPECT_EQ(e["values"][0]["tag"], want[i].tag);
    EXPECT_EQ(e["values"][0]["simple_value"].get<double>(), static_cast<double>(static_cast<float>(want[i].value)));
  }
  EXPECT_EQ(events[7]["values"][0]["tag"], "after flush");
  EXPECT_EQ(events[7]["step"], 2);
}

TEST(TensorBoardWriter, FlushMakesRecordsVisibleAndReaderChecksCrcs) {
  ScratchDir dir;
  TensorBoardWriter w(dir.path());
  w.add_scalar("a", 1.0, 1);
  w.flush();
  // Visible to another reader before the writer closes.
  const CommandResult ok = read_back(w.path());
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["events"].size(), 2u);

  // A flipped payload byte must be caught by the reader (so the test above really checks CRCs).
  const fs::path copy = dir.path() / "corrupt";
  fs::copy_file(w.path(), copy);
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-6, std::ios::end);  // inside the last payload's float
    f.put('\x55');
  }
  const CommandResult bad = read_back(copy);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("CRC"), std::string::npos) << bad.out;
}

TEST(TensorBoardWriter, ManyScalarsFlushInChunksAndWritersDoNotCollide) {
  ScratchDir dir;
  fs::path first;
  {
    TensorBoardWriter a(dir.path());
    TensorBoardWriter b(dir.path());
    EXPECT_NE(a.path(), b.path());
    first = a.path();
    for (int i = 1; i <= 2000; ++i) a.add_scalar("iteration-time", 0.001 * i, i, 1.7e9 + i);  // ~100 KiB > 64 KiB
  }
  EXPECT_EQ(event_files(dir.path()).size(), 2u);
  const CommandResult r = read_back(first);
  ASSERT_EQ(r.status, 0) << r.out.substr(0, 400);
  const auto events = nlohmann::json::parse(r.out)["events"];
  ASSERT_EQ(events.size(), 2001u);
  EXPECT_EQ(events[2000]["step"], 2000);
  EXPECT_EQ(events[2000]["values"][0]["simple_value"].get<double>(), static_cast<double>(2.0f));
}

TEST(TensorBoardWriter, UncreatableFolderIsAClearError) {
  ScratchDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "file") << "x";
  try {
    TensorBoardWriter w(dir.path() / "file" / "tensorboard");
    FAIL() << "expected primus::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the TensorBoard folder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::train
