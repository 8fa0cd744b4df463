// What a tensor-parallel block does at its boundary (Megatron-Core's copy/gather/reduce/scatter
// regions): its input arrives as the layer's tokens — the whole sequence, or this rank's sequence
// shard under sequence parallelism — and its output and input gradient leave the same way.
//
//   forward   x_local  --gather (SP)-->  x  --block-->  y (partial)  --all-reduce / reduce-scatter (SP)-->  y_local
//   backward  dy_local --gather (SP)--> dy  --block--> dx (partial)  --all-reduce / reduce-scatter (SP)--> dx_local
// A block whose result is already complete on every rank skips the reduction (and takes its own
// slice under SP). With one process every step is a no-op and the block works in place.
#pragma once

#include <cstdint>

#include "model/block.hpp"
#include "model/buffer_plan.hpp"

namespace primus::model {

class TensorParallelIo {
 public:
  // Plans the block's staging buffers ([T, width] each) in its scratch.
  TensorParallelIo(const BuildContext& ctx, std::int64_t width, BufferPlan& scratch);

  bool active() const { return t_ > 1; }
  // x_local [T/sp, w] -> the whole sequence [T, w] (x_local itself without sequence parallelism).
  const float* gather(const BlockCall& call, const float* x_local, std::int64_t which = 0) const;
  // Where a block writes a result that reduce() then turns into `local`: `local` itself unless a
  // reduce-scatter needs a whole-sequence buffer.
  float* partial_buffer(const BlockCall& call, float* local) const;
  // partial [T, w] -> local [T/sp, w] (sum over the group); with complete, only the slice.
  void reduce(const BlockCall& call, float* partial, float* local, bool complete = false) const;

 private:
  const ModelParallel& mp_;
  std::int64_t t_, width_;
  std::int64_t full_[2], partial_, staging_;
};

}  // namespace primus::model
