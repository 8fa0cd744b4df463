// Communication of tensor and sequence parallelism (Megatron-Core's tensor_parallel/mappings.py)
// for activations laid out [batch, seq, features] with rows (b, s).
//
// Sequence parallelism splits the sequence: TP rank r holds positions [r·s/t, (r+1)·s/t) of every
// sample, i.e. rows (b, s_local). Gathering the full sequence is an all-gather of the shards
// ([t][b][s/t][h] after MPI) followed by a reorder to (b, s); the reverse reorder precedes a
// reduce-scatter. With t = 1 (or a one-process communicator) every function is a copy or no-op.
#pragma once

#include <cstdint>

#include "parallel/communicator.hpp"

namespace primus::parallel {

// x [rows, n] summed over the group in place (row-parallel outputs, column-parallel input grads).
void tp_all_reduce(Communicator& tp, float* x, std::int64_t n);

// local [b, s/t, h] -> full [b, s, h]. staging: t·b·(s/t)·h floats.
void sequence_all_gather(Communicator& tp, const float* local, float* full, std::int64_t batch, std::int64_t seq,
                         std::int64_t hidden, float* staging);
// full [b, s, h] (partial sums on every rank) -> local [b, s/t, h] = the group's sum over this
// rank's positions. staging: t·b·(s/t)·h floats.
void sequence_reduce_scatter(Communicator& tp, const float* full, float* local, std::int64_t batch, std::int64_t seq,
                             std::int64_t hidden, float* staging);
// local [b, s/t, h] = this rank's positions of full [b, s, h] (no communication: the gradient of a
// gather whose consumers' gradients are already complete on every rank).
void sequence_slice(const Communicator& tp, const float* full, float* local, std::int64_t batch, std::int64_t seq,
                    std::int64_t hidden);

}  // namespace primus::parallel
