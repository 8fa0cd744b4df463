// Reader of Megatron's indexed dataset (PREFIX.idx + PREFIX.bin, megatron-formats.md §1).
// Hand-written: the format is a small fixed header plus three arrays; no Debian package reads it.
// The .bin is memory-mapped (never copied); the .idx arrays are copied once at open because they
// start at byte 34 and would otherwise be read unaligned. Every inconsistency (magic, version,
// dtype, sizes, pointers, document boundaries, .bin length) is a primus::Error naming the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/indexed_dtype.hpp"
#include "data/mapped_file.hpp"

namespace primus::data {

class IndexedDatasetReader {
 public:
  // `prefix` without extension: opens prefix.idx and prefix.bin.
  explicit IndexedDatasetReader(const std::string& prefix);

  const std::string& prefix() const { return prefix_; }
  TokenDType dtype() const { return dtype_; }
  std::int64_t sequence_count() const { return static_cast<std::int64_t>(lengths_.size()); }
  // Number of documents (the .idx stores this plus one boundary).
  std::int64_t document_count() const { return static_cast<std::int64_t>(documents_.size()) - 1; }
  std::span<const std::int32_t> sequence_lengths() const { return lengths_; }
  std::span<const std::int64_t> sequence_pointers() const { return pointers_; }
  // Document boundaries in sequence ids: [0, ..., sequence_count].
  std::span<const std::int64_t> document_indices() const { return documents_; }
  bool has_modes() const { return !modes_.empty(); }
  std::span<const std::int8_t> modes() const { return modes_; }
  std::int64_t total_tokens() const { return total_tokens_; }

  // Copies tokens [offset, offset+length) of sequence `seq` into `out`, converted to int64.
  // length < 0 means "to the end of the sequence". Returns the number of tokens written.
  std::int64_t read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                    std::int64_t* out) const;
  // The same, converted to int32 (token ids; values outside int32 are an error).
  std::int64_t read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                    std::int32_t* out) const;
  // Whole sequence as int64 values.
  std::vector<std::int64_t> sequence(std::int64_t seq) const;

 private:
  template <typename Out>
  std::int64_t read_impl(std::int64_t seq, std::int64_t offset, std::int64_t length,
                         Out* out) const;

  std::string prefix_;
  std::string idx_path_;
  std::string bin_path_;
  TokenDType dtype_ = TokenDType::kInt32;
  std::vector<std::int32_t> lengths_;
  std::vector<std::int64_t> pointers_;
  std::vector<std::int64_t> documents_;
  std::vector<std::int8_t> modes_;
  std::int64_t total_tokens_ = 0;
  MappedFile bin_;
};

}  // namespace primus::data
