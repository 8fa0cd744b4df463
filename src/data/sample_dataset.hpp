// What the trainer reads: a dataset of fixed-length GPT samples. get() fills caller-owned
// buffers (no allocation per step) and is safe to call from several threads at once.
#pragma once

#include <cstdint>

namespace primus::data {

// Caller-provided buffers, each `sequence_length` elements long.
struct SampleBuffers {
  std::int32_t* tokens = nullptr;
  std::int32_t* labels = nullptr;
  float* loss_mask = nullptr;
  std::int32_t* position_ids = nullptr;
};

class SampleDataset {
 public:
  virtual ~SampleDataset() = default;
  // Number of samples (index range of get()).
  virtual std::int64_t size() const = 0;
  virtual std::int64_t sequence_length() const = 0;
  virtual void get(std::int64_t index, const SampleBuffers& out) const = 0;
};

}  // namespace primus::data
