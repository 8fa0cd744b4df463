// The order in which one pipeline rank runs the forward and backward passes of a global batch
// (Megatron-Core's pipeline_parallel/schedules.py), as a list of actions; the executor adds the
// sends and receives between neighbouring stages around each action.
//
// 1F1B (forward_backward_pipelining_without_interleaving): warm-up = min(pp − rank − 1, M)
// forwards, then one forward and one backward (the oldest micro-batch first) per step, then the
// remaining backwards. At most pp − rank micro-batches' activations are alive at once.
//
// Interleaved 1F1B (…_with_interleaving, V model chunks per rank, micro-batch groups of N):
// the schedule table lists, group by group, every chunk 0..V−1 over the group's micro-batches
// (the last group takes the remainder); forward k runs table[k], backward k runs table[k] with
// chunk V−1−c. Warm-up = 2·(pp − rank − 1) + (V − 1)·N, capped at M·V; then forward k + warm-up
// and backward k alternate; then the remaining backwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primus::parallel {

struct PipelineAction {
  enum class Kind { Forward, Backward };
  Kind kind;
  std::int64_t microbatch;
  std::int64_t chunk;  // model chunk (virtual stage) on this rank, 0 without interleaving
  bool operator==(const PipelineAction&) const = default;
};

std::vector<PipelineAction> schedule_1f1b(std::int64_t pp, std::int64_t rank, std::int64_t microbatches);

// Megatron's checks for the interleaved schedule (group size in [pp, M]; a remainder M mod N
// that is not 0 must be at least pp); throws primus::Error naming the keys.
void check_interleaved(std::int64_t pp, std::int64_t microbatches, std::int64_t chunks, std::int64_t group);
std::vector<PipelineAction> schedule_interleaved(std::int64_t pp, std::int64_t rank, std::int64_t microbatches,
                                                 std::int64_t chunks, std::int64_t group);

// The table both directions index: (micro-batch, chunk) per virtual micro-batch.
std::vector<std::pair<std::int64_t, std::int64_t>> interleaved_table(std::int64_t microbatches, std::int64_t chunks,
                                                                     std::int64_t group);

// The largest number of micro-batches whose activations a chunk of this rank holds at once.
std::int64_t max_in_flight(const std::vector<PipelineAction>& schedule, std::int64_t chunks);

std::string describe(const std::vector<PipelineAction>& schedule);  // e.g. "F0 F1 B0 F2 B1 B2"

}  // namespace primus::parallel
