// TensorBoard event files with scalar summaries — what Megatron's SummaryWriter.add_scalar
// produces, readable by TensorBoard and tbparse.
//
// Hand-written on purpose: the format is small and stable, and the project takes no protobuf or
// TensorFlow dependency for it. A file is a sequence of TFRecords:
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data[length] |
//   uint32 masked_crc32c(data)
// with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 and CRC-32C (Castagnoli). Each record's
// data is a serialized tensorflow.Event; the few fields used are encoded by hand:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// The first record is Event{wall_time, file_version: "brain.Event:2"}, as every writer emits.
// tools/reference/train/read_tfevents.py is an independent pure-Python reader the tests use.
//
// File name: events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<n> (PyTorch's naming;
// n counts writers in this process, so two writers never collide).
//
// Per-iteration cost: add_scalar encodes into buffers reserved at construction (no allocation
// for ordinary tag lengths) and touches the file only in flush(), which the trainer calls once per
// log interval; a full buffer (64 KiB) is flushed early. The destructor flushes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace primus::train {

// CRC-32C (Castagnoli, reflected 0x82F63B78) and TFRecord's masked form of it.
uint32_t crc32c(std::span<const unsigned char> bytes);
uint32_t masked_crc32c(std::span<const unsigned char> bytes);

class TensorBoardWriter {
 public:
  // Creates `log_dir` (and parents) when missing and opens a new event file in it, writing the
  // file_version event. Throws primus::Error naming the path when either fails.
  explicit TensorBoardWriter(const std::filesystem::path& log_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One scalar at `step` (an iteration, or a sample count for Megatron's "... vs samples" tags),
  // stamped with the current wall time. Stored as float (simple_value), as TensorBoard does.
  void add_scalar(std::string_view tag, double value, int64_t step);
  // The same with an explicit wall time in seconds since the epoch (tests, replay).
  void add_scalar(std::string_view tag, double value, int64_t step, double wall_time);

  // Writes the buffered records to the file and flushes it to the OS. Throws on I/O failure.
  void flush();

  const std::filesystem::path& path() const { return path_; }

 private:
  void append_record();  // frames event_ into pending_

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::string event_;    // one serialized Event (reused)
  std::string pending_;  // framed records not yet written
};

}  // namespace primus::train
