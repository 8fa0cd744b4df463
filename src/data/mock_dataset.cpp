#include "data/mock_dataset.hpp"

#include "core/error.hpp"
#include "data/numpy_pcg64.hpp"

namespace primus::data {

MockLowLevelDataset::MockLowLevelDataset(std::int64_t vocab_size, std::int32_t eod_id)
    : vocab_size_(vocab_size), eod_id_(eod_id) {
  if (vocab_size <= 1) fail("mock data needs a vocabulary of at least 2 tokens (got {})", vocab_size);
  // Megatron: numpy.random.default_rng(seed=0).integers(1, 4096, size=100000, dtype=int32).
  NumpyPcg64 rng(0);
  lengths_.resize(kSize);
  for (auto& l : lengths_) l = rng.integers_int32(1, kMaxSequenceLength);
}

void MockLowLevelDataset::read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                               std::int32_t* out) const {
  if (seq < 0 || seq >= kSize) fail("mock data: sequence {} out of range", seq);
  const std::int64_t len = lengths_[static_cast<std::size_t>(seq)];
  if (offset < 0 || length < 0 || offset + length > len) {
    fail("mock data: tokens [{}, {}) outside sequence {} of length {}", offset, offset + length, seq, len);
  }
  for (std::int64_t i = 0; i < length; ++i) {
    const std::int64_t pos = offset + i;
    out[i] = pos == len - 1 ? eod_id_ : static_cast<std::int32_t>((pos + 1) % vocab_size_);
  }
}

}  // namespace primus::data
