// Read-only memory map of a whole file (RAII). Hand-written: a few lines of POSIX mmap; the
// indexed dataset and the .npy reader use it so that multi-GB token files are never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace primus::data {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path`; throws primus::Error naming the file when it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace primus::data
