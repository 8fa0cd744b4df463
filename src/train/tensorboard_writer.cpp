// TensorBoard event-file writer (TFRecord framing + hand-encoded Event protobuf); see the header.
#include "train/tensorboard_writer.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::train {

namespace {

constexpr std::size_t kFlushThreshold = 64 * 1024;

// Byte-wise CRC-32C table for the reflected Castagnoli polynomial.
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::span<const unsigned char> bytes_of(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

// --- protobuf wire format (just what Event needs) ---
// key = (field_number << 3) | wire_type; wire types: 0 varint, 1 fixed64, 2 length-delimited,
// 5 fixed32. All fixed-width values are little-endian.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
std::size_t varint_size(uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
template <typename T>
void put_le(std::string& out, T value) {  // T: uint32_t or uint64_t
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
void put_key(std::string& out, uint32_t field, uint32_t wire_type) { put_varint(out, (field << 3) | wire_type); }
void put_double(std::string& out, uint32_t field, double v) {
  put_key(out, field, 1);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_le(out, bits);
}
void put_float(std::string& out, uint32_t field, float v) {
  put_key(out, field, 5);
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_le(out, bits);
}
void put_bytes(std::string& out, uint32_t field, std::string_view s) {
  put_key(out, field, 2);
  put_varint(out, s.size());
  out.append(s);
}

// Event field numbers.
constexpr uint32_t kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
// Summary.value = 1; Summary.Value.tag = 1, simple_value = 2.
constexpr uint32_t kSummaryValue = 1, kValueTag = 1, kValueSimpleValue = 2;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::atomic<int> g_writer_count{0};

}  // namespace

uint32_t crc32c(std::span<const unsigned char> bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = kCrc32cTable[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::span<const unsigned char> bytes) { return mask(crc32c(bytes)); }

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) fail("cannot create the TensorBoard folder {}: {}", log_dir.string(), ec.message());
  const double now = now_seconds();
  path_ = log_dir / fmt::format("events.out.tfevents.{:010d}.{}.{}.{}", static_cast<int64_t>(now), host_name(),
                                static_cast<long>(getpid()), g_writer_count.fetch_add(1));
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) fail("cannot open the TensorBoard event file {}: {}", path_.string(), std::strerror(errno));
  event_.reserve(256);
  pending_.reserve(kFlushThreshold + 512);

  put_double(event_, kEventWallTime, now);
  put_bytes(event_, kEventFileVersion, "brain.Event:2");
  append_record();
  try {
    flush();
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  if (!file_) return;
  // Destructors must not throw; a failed final write is reported by the last explicit flush().
  if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), file_);
  std::fclose(file_);
}

void TensorBoardWriter::add_scalar(std::string_view tag, double value, int64_t step) {
  add_scalar(tag, value, step, now_seconds());
}

void TensorBoardWriter::add_scalar(std::string_view tag, double value, int64_t step, double wall_time) {
  // Value { tag, simple_value } inside Summary { value } inside Event { wall_time, step, summary }.
  const std::size_t value_size = 1 + varint_size(tag.size()) + tag.size() + 1 + 4;
  const std::size_t summary_size = 1 + varint_size(value_size) + value_size;
  event_.clear();
  put_double(event_, kEventWallTime, wall_time);
  if (step != 0) {  // proto3 leaves default (zero) fields out
    put_key(event_, kEventStep, 0);
    put_varint(event_, static_cast<uint64_t>(step));  // negative int64: 10-byte two's complement
  }
  put_key(event_, kEventSummary, 2);
  put_varint(event_, summary_size);
  put_key(event_, kSummaryValue, 2);
  put_varint(event_, value_size);
  put_bytes(event_, kValueTag, tag);
  put_float(event_, kValueSimpleValue, static_cast<float>(value));
  append_record();
  if (pending_.size() >= kFlushThreshold) flush();
}

void TensorBoardWriter::append_record() {
  std::array<char, 8> length;
  const uint64_t n = event_.size();
  for (std::size_t i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  const std::string_view length_bytes(length.data(), length.size());
  pending_.append(length_bytes);
  put_le(pending_, masked_crc32c(bytes_of(length_bytes)));
  pending_.append(event_);
  put_le(pending_, masked_crc32c(bytes_of(event_)));
}

void TensorBoardWriter::flush() {
  if (!pending_.empty()) {
    const std::size_t written = std::fwrite(pending_.data(), 1, pending_.size(), file_);
    if (written != pending_.size())
      fail("writing the TensorBoard event file {} failed: {}", path_.string(), std::strerror(errno));
    pending_.clear();
  }
  if (std::fflush(file_) != 0)
    fail("writing the TensorBoard event file {} failed: {}", path_.string(), std::strerror(errno));
}

}  // namespace primus::train
