// Megatron's mock low-level dataset (megatron-formats.md §2): 100000 synthetic sequences with
// lengths in [1, 4096) drawn from a fixed seed; sequence s holds (1, 2, ..., L-1) % vocab
// followed by EOD. Used with `mock_data: true`; exercises the same GPT index code as real data.
// Lengths come from our MT19937 (NumpyRandomState(0)), not numpy's PCG64 default_rng, so the
// token stream is Megatron-like in shape but not bit-identical to Megatron's mock data.
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
