// Writes a safetensors file one tensor at a time, for files too large to hold in memory at once
// (a checkpoint shard, a converted Hugging Face model): every tensor's name, dtype and shape is
// declared up front, the header goes out first, then the caller supplies each tensor's bytes in
// order(). The file is the one SafetensorsWriter would write for the same tensors (same layout:
// decreasing element size, then name; header padded to 8 bytes; sorted compact JSON), written
// atomically (io/atomic_file.hpp). An observer sees every byte written (checkpoints compute their
// CRC-32C from it without reading the file back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/safetensors_format.hpp"

namespace primus::io {

struct TensorDecl {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<std::int64_t> shape;
};

class SafetensorsStreamWriter {
 public:
  using Observer = std::function<void(const void* data, std::size_t bytes)>;

  // Validates the declarations (names unique, non-empty, not "__metadata__"; shapes valid) and
  // writes the header. Throws primus::Error naming `path`.
  SafetensorsStreamWriter(std::filesystem::path path, std::vector<TensorDecl> tensors,
                          std::map<std::string, std::string> metadata = {}, Observer observer = {});
  ~SafetensorsStreamWriter();

  // The order in which write() must receive the tensors.
  const std::vector<TensorDecl>& order() const { return order_; }
  // The next tensor's bytes (numel * element size), possibly in several calls.
  void write(const void* data, std::size_t bytes);
  // Checks that every tensor was written completely, then commits the file.
  void commit();
  // Bytes written so far (header included).
  std::uint64_t bytes_written() const { return file_->bytes_written(); }

 private:
  void emit(const void* data, std::size_t bytes);

  std::filesystem::path path_;
  std::vector<TensorDecl> order_;
  std::vector<std::uint64_t> sizes_;
  std::unique_ptr<AtomicFile> file_;
  Observer observer_;
  std::size_t current_ = 0;       // index into order_
  std::uint64_t current_done_ = 0;  // bytes of the current tensor written
};

}  // namespace primus::io
