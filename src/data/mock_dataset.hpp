// Megatron's mock low-level dataset (megatron-formats.md §2): 100000 synthetic sequences with
// lengths in [1, 4096) drawn exactly as Megatron draws them (numpy default_rng(0), reproduced in
// numpy_pcg64.hpp); sequence s holds 1, 2, ..., L-1 followed by EOD (token ids taken modulo the
// vocabulary size, which only matters for vocabularies below 4096). Used with `mock_data: true`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/low_level_dataset.hpp"

namespace primus::data {

class MockLowLevelDataset final : public LowLevelDataset {
 public:
  static constexpr std::int64_t kSize = 100000;
  static constexpr std::int32_t kMaxSequenceLength = 4096;

  MockLowLevelDataset(std::int64_t vocab_size, std::int32_t eod_id);
  std::span<const std::int32_t> sequence_lengths() const override { return lengths_; }
  void read(std::int64_t seq, std::int64_t offset, std::int64_t length,
            std::int32_t* out) const override;
  const std::string& path_prefix() const override { return prefix_; }

 private:
  std::vector<std::int32_t> lengths_;
  std::int64_t vocab_size_;
  std::int32_t eod_id_;
  std::string prefix_;
};

}  // namespace primus::data
