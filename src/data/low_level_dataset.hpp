// The token store under a GPT dataset: either a memory-mapped Megatron .bin/.idx pair or the
// synthetic mock store. GPTDataset only needs the sequence lengths and a way to copy tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "data/indexed_dataset_reader.hpp"

namespace primus::data {

class LowLevelDataset {
 public:
  virtual ~LowLevelDataset() = default;
  virtual std::span<const std::int32_t> sequence_lengths() const = 0;
  // Copies tokens [offset, offset + length) of sequence `seq` into out (length >= 0).
  virtual void read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                    std::int32_t* out) const = 0;
  // The path prefix (empty for mock data).
  virtual const std::string& path_prefix() const = 0;
};

class IndexedLowLevelDataset final : public LowLevelDataset {
 public:
  explicit IndexedLowLevelDataset(const std::string& prefix) : reader_(prefix) {}
  std::span<const std::int32_t> sequence_lengths() const override { return reader_.sequence_lengths(); }
  void read(std::int64_t seq, std::int64_t offset, std::int64_t length,
            std::int32_t* out) const override {
    reader_.read(seq, offset, length, out);
  }
  const std::string& path_prefix() const override { return reader_.prefix(); }
  const IndexedDatasetReader& reader() const { return reader_; }

 private:
  IndexedDatasetReader reader_;
};

}  // namespace primus::data
