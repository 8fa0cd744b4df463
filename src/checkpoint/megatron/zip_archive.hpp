// The ZIP container of torch.save's format (PyTorch's "zipfile serialization"): stored (never
// compressed) entries, each entry's data aligned to 64 bytes by padding its local header's extra
// field (as PyTorch's writer does, so a reader may memory-map tensors), ZIP64 records when an
// entry, an offset or the count passes the 32-bit limits, and a CRC-32 per entry.
//
// ZipWriter streams entries to an AtomicFile (the archive appears whole or not at all);
// ZipReader memory-maps an archive, validates its central directory and gives each entry's bytes
// after checking its CRC-32 — every problem one line naming the file and the entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"

namespace primus::checkpoint::megatron {

class ZipWriter {
 public:
  explicit ZipWriter(const std::filesystem::path& path);
  ~ZipWriter();
  // One entry (its CRC-32 computed first, so that local and central headers both carry it).
  void add(const std::string& name, const void* data, std::uint64_t bytes);
  // Writes the central directory and commits the file.
  void finish();

 private:
  struct Entry {
    std::string name;
    std::uint64_t offset = 0, size = 0;
    std::uint32_t crc = 0;
  };
  void raw(const void* data, std::size_t bytes);

  io::AtomicFile file_;
  std::uint64_t at_ = 0;
  std::vector<Entry> entries_;
};

class ZipReader {
 public:
  explicit ZipReader(const std::filesystem::path& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // The entry's bytes inside the mapping, CRC-32 checked on first access; throws naming the entry.
  std::span<const std::byte> entry(const std::string& name) const;

 private:
  struct Entry {
    std::uint64_t data = 0, size = 0;
    std::uint32_t crc = 0;
    mutable bool checked = false;
  };
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::map<std::string, Entry> entries_;
};

}  // namespace primus::checkpoint::megatron
