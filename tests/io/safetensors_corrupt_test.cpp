// Broken files, built byte by byte: each must fail with a primus::Error that names the file and
// says what is wrong, never crash or hand out out-of-range memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"
#include "temp_dir.hpp"

namespace primus::io {
namespace {

using test::TempDir;

// 8-byte LE length (the header's own unless overridden), header, data.
void write_raw(const std::filesystem::path& path, const std::string& header,
               const std::string& data, std::optional<std::uint64_t> length = std::nullopt) {
  const std::uint64_t n = length.value_or(header.size());
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  bytes += header;
  bytes += data;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Expects SafetensorsReader(path) to throw an Error whose message names the file and contains
// `needle`.
void expect_rejected(const std::filesystem::path& path, const std::string& needle) {
  try {
    SafetensorsReader r(path);
    FAIL() << path << " was accepted; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

const std::string kEightBytes(8, '\x01');

std::string one_tensor(const std::string& dtype, const std::string& shape,
                       const std::string& offsets) {
  return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" +
         offsets + "}}";
}

TEST(SafetensorsCorrupt, MissingAndTinyFiles) {
  TempDir dir;
  expect_rejected(dir / "absent.safetensors", "absent.safetensors: safetensors file not found");
  std::ofstream(dir / "empty.safetensors").close();
  expect_rejected(dir / "empty.safetensors", "too small");
  std::ofstream(dir / "five.safetensors") << "abcde";
  expect_rejected(dir / "five.safetensors", "too small");
  expect_rejected(dir.path(), "is a folder; the safetensors file must be a file");
  std::filesystem::create_symlink("loop_b", dir / "loop_a");
  std::filesystem::create_symlink("loop_a", dir / "loop_b");
  expect_rejected(dir / "loop_a", "loop_a: loop of symbolic links");
  expect_rejected("/dev/zero", "/dev/zero: is a device");
}

TEST(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  TempDir dir;
  const auto path = dir / "len.safetensors";
  write_raw(path, one_tensor("U8", "[8]", "[0,8]"), kEightBytes, 4096);
  expect_rejected(path, "runs past the end");
  write_raw(path, "{}", "", 1ull << 40);
  expect_rejected(path, "exceeds");
}

TEST(SafetensorsCorrupt, TruncatedData) {
  TempDir dir;
  const auto path = dir / "trunc.safetensors";
  // A valid file cut short: the last tensor's bytes are missing.
  const std::vector<float> f(16, 1.0f);
  SafetensorsWriter w;
  w.add("a", {16}, f);
  w.write(path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  expect_rejected(path, "run past the end of the data");
}

TEST(SafetensorsCorrupt, BadJson) {
  TempDir dir;
  const auto path = dir / "json.safetensors";
  write_raw(path, R"({"t":{"dtype":"F32",)", "");
  expect_rejected(path, "not valid JSON");
  write_raw(path, "[1,2,3]", "");
  expect_rejected(path, "must be a JSON object");
  write_raw(path, "\xff\xfe{}", "");
  expect_rejected(path, "not valid JSON");
  write_raw(path, R"({"t":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"t":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})",
            kEightBytes);
  expect_rejected(path, "key 't' twice");
}

TEST(SafetensorsCorrupt, BadEntries) {
  TempDir dir;
  const auto path = dir / "entry.safetensors";
  write_raw(path, one_tensor("F99", "[2]", "[0,8]"), kEightBytes);
  expect_rejected(path, "unknown dtype 'F99'");
  write_raw(path, one_tensor("F32", "[-2]", "[0,8]"), kEightBytes);
  expect_rejected(path, "non-negative integers");
  write_raw(path, one_tensor("F32", "[2.0]", "[0,8]"), kEightBytes);
  expect_rejected(path, "non-negative integers");
  write_raw(path, one_tensor("F32", "2", "[0,8]"), kEightBytes);
  expect_rejected(path, "shape must be an array");
  write_raw(path, one_tensor("F32", "[2]", "[0]"), kEightBytes);
  expect_rejected(path, "data_offsets must be [begin, end]");
  write_raw(path, one_tensor("F32", "[2]", "[8,0]"), kEightBytes);
  expect_rejected(path, "end before they begin");
  write_raw(path, R"({"t":{"dtype":"F32","shape":[2]}})", kEightBytes);
  expect_rejected(path, "missing 'data_offsets'");
  write_raw(path, R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})",
            kEightBytes);
  expect_rejected(path, "unexpected key 'extra'");
  write_raw(path, R"({"t":[1,2]})", kEightBytes);
  expect_rejected(path, "expected an object");
  write_raw(path, one_tensor("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), kEightBytes);
  expect_rejected(path, "too large");
  write_raw(path, R"({"__metadata__":{"a":1}})", "");
  expect_rejected(path, "must be a string");
  write_raw(path, R"({"__metadata__":[]})", "");
  expect_rejected(path, "must be an object of strings");
}

TEST(SafetensorsCorrupt, SizeDoesNotMatchShape) {
  TempDir dir;
  const auto path = dir / "size.safetensors";
  write_raw(path, one_tensor("F32", "[3]", "[0,8]"), kEightBytes);
  expect_rejected(path, "needs 12 bytes but data_offsets [0, 8] hold 8");
  write_raw(path, one_tensor("BF16", "[2,3]", "[0,8]"), kEightBytes);
  expect_rejected(path, "needs 12 bytes");
}

TEST(SafetensorsCorrupt, OffsetsOutOfRange) {
  TempDir dir;
  const auto path = dir / "range.safetensors";
  write_raw(path, one_tensor("U8", "[8]", "[4,12]"), kEightBytes);
  expect_rejected(path, "run past the end of the data (8 bytes");
  write_raw(path, one_tensor("U8", "[1]", "[18446744073709551615,0]"), kEightBytes);
  expect_rejected(path, "end before they begin");
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  TempDir dir;
  const auto path = dir / "overlap.safetensors";
  write_raw(path,
            R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},)"
            R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
            kEightBytes);
  expect_rejected(path, "'a' [0, 6) and 'b' [4, 8) overlap");
  // Two names for the same bytes.
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
            kEightBytes);
  expect_rejected(path, "overlap");
}

TEST(SafetensorsCorrupt, GapsAndTrailingBytes) {
  TempDir dir;
  const auto path = dir / "gap.safetensors";
  write_raw(path,
            R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
            R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
            kEightBytes);
  expect_rejected(path, "bytes [2, 4) belong to no tensor");
  write_raw(path, one_tensor("U8", "[6]", "[0,6]"), kEightBytes);
  expect_rejected(path, "2 bytes after the last tensor");
}

TEST(SafetensorsCorrupt, HandWrittenValidFileIsAccepted) {
  // The checks above reject only what is wrong: the same bytes with a consistent header (no
  // padding, unsorted keys, a zero-size tensor sharing an offset) read fine.
  TempDir dir;
  const auto path = dir / "ok.safetensors";
  write_raw(path,
            R"({"z":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},)"
            R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
            R"("a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"__metadata__":{}}  )",
            std::string("\x01\x00\xff\xff\x05\x06\x07\x08", 8));
  SafetensorsReader r(path);
  EXPECT_EQ(r.read_i32("a"), (std::vector<std::int32_t>{1, -1}));
  EXPECT_EQ(r.read_i32("z"), (std::vector<std::int32_t>{5, 6, 7, 8}));
  EXPECT_EQ(r.entry("e").numel(), 0);
  EXPECT_TRUE(r.metadata().empty());
}

TEST(SafetensorsCorrupt, UnalignedDataIsReadThroughCopies) {
  // A writer that does not pad the header (legal) can leave the data at an odd address:
  // conversions and copies still work, zero-copy views refuse with a clear message.
  TempDir dir;
  const auto path = dir / "odd.safetensors";
  std::string header =
      R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
      R"("f":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  if (header.size() % 2 == 0) header += ' ';
  write_raw(path, header, std::string("\x80\x3f\x00\xc0\x00\x00\x20\x40", 8));
  SafetensorsReader r(path);
  EXPECT_EQ(r.read_f32("b"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(r.read_f32("f"), std::vector<float>{2.5f});
  EXPECT_EQ(r.copy<float>("f"), std::vector<float>{2.5f});
  try {
    r.view<float>("f");
    FAIL() << "misaligned view handed out";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not 4-byte aligned"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::io
