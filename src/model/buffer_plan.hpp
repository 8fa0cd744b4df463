// Offsets of the buffers a block plans inside one region (its share of a layer's saved
// activations, or the scratch shared by all blocks), in floats, each 64-byte aligned. The stage
// sums or maxes the totals and backs every region with its one arena allocation (llm.c style:
// plan, allocate once, carve).
#pragma once

#include <cstdint>

namespace primus::model {

class BufferPlan {
 public:
  // Reserves `floats` (rounded up to 16 = 64 bytes) and returns the offset.
  std::int64_t add(std::int64_t floats) {
    const std::int64_t at = total_;
    total_ += (floats + 15) / 16 * 16;
    return at;
  }
  std::int64_t total() const { return total_; }

 private:
  std::int64_t total_ = 0;
};

}  // namespace primus::model
