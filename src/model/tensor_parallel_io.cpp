#include "model/tensor_parallel_io.hpp"

#include <cstring>

#include "parallel/tensor_parallel.hpp"

namespace primus::model {

TensorParallelIo::TensorParallelIo(const BuildContext& ctx, std::int64_t width, BufferPlan& scratch)
    : mp_(ctx.parallel), t_(ctx.parallel.tp_size()), width_(width) {
  const bool sp = ctx.parallel.sequence_parallel && t_ > 1;
  const std::int64_t T = ctx.tokens();
  full_[0] = scratch.add(sp ? T * width : 0);
  full_[1] = scratch.add(sp ? T * width : 0);
  partial_ = scratch.add(sp ? T * width : 0);
  staging_ = scratch.add(sp ? T * width : 0);
}

const float* TensorParallelIo::gather(const BlockCall& call, const float* x_local, std::int64_t which) const {
  if (mp_.sp() == 1) return x_local;
  float* full = call.at_scratch(full_[which]);
  parallel::sequence_all_gather(mp_.tp_group(), x_local, full, call.batch, call.seq, width_,
                                call.at_scratch(staging_));
  return full;
}

float* TensorParallelIo::partial_buffer(const BlockCall& call, float* local) const {
  return mp_.sp() == 1 ? local : call.at_scratch(partial_);
}

void TensorParallelIo::reduce(const BlockCall& call, float* partial, float* local, bool complete) const {
  if (t_ == 1) return;
  if (mp_.sp() == 1) {
    if (!complete) parallel::tp_all_reduce(mp_.tp_group(), partial, call.tokens() * width_);
    if (partial != local) std::memcpy(local, partial, static_cast<size_t>(call.tokens() * width_) * sizeof(float));
    return;
  }
  if (complete) parallel::sequence_slice(mp_.tp_group(), partial, local, call.batch, call.seq, width_);
  else parallel::sequence_reduce_scatter(mp_.tp_group(), partial, local, call.batch, call.seq, width_,
                                         call.at_scratch(staging_));
}

}  // namespace primus::model
