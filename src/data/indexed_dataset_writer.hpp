// Writer of Megatron's indexed dataset (PREFIX.bin + PREFIX.idx, megatron-formats.md §1),
// byte-for-byte what Megatron's IndexedDatasetBuilder writes for text (no modes array).
// Hand-written for the same reason as the reader. Tokens stream to a temporary file beside
// PREFIX.bin as they are added; finalize() writes the index the same way and only then renames
// both into place (io/atomic_file.hpp). A writer destroyed without finalize() — a failed run —
// leaves no PREFIX.bin/.idx behind (and an earlier dataset of that name untouched).
// A token that does not fit the dtype is an error, never truncated.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/indexed_dtype.hpp"
#include "io/atomic_file.hpp"

namespace primus::data {

class IndexedDatasetWriter {
 public:
  IndexedDatasetWriter(const std::string& prefix, TokenDType dtype);
  ~IndexedDatasetWriter();  // without finalize(): removes what was written
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;

  // Appends one sequence (no document boundary).
  void add_sequence(std::span<const std::int64_t> tokens);
  void add_sequence(std::span<const std::int32_t> tokens);
  // Closes the current document (boundary = number of sequences so far).
  void end_document();
  // One document made of one sequence: add_sequence + end_document.
  void add_document(std::span<const std::int32_t> tokens);
  // Appends every sequence and document of another dataset with the same dtype (Megatron's
  // merge_file_): lets parallel workers write shards that are merged afterwards.
  void add_dataset(const std::string& prefix);
  // Writes PREFIX.idx, then renames PREFIX.bin and PREFIX.idx into place. Without it nothing
  // appears.
  void finalize();

  std::int64_t sequence_count() const { return static_cast<std::int64_t>(lengths_.size()); }
  std::int64_t token_count() const { return tokens_; }
  std::int64_t bytes_written() const { return tokens_ * static_cast<std::int64_t>(dtype_size(dtype_)); }

 private:
  template <typename In>
  void add_impl(std::span<const In> tokens);
  std::string prefix_;
  TokenDType dtype_;
  std::unique_ptr<io::AtomicFile> bin_;
  std::vector<std::int32_t> lengths_;
  std::vector<std::int64_t> documents_{0};
  std::vector<std::uint8_t> buffer_;
  std::int64_t tokens_ = 0;
  bool finalized_ = false;
};

}  // namespace primus::data
