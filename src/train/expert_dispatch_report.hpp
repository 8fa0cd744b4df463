// What expert parallelism sent over the expert group during training, for the closing log line
// (and tools/bench/expert_parallel_bench.sh): per rank per step, averaged over the ranks, the
// hidden states the forward dispatch sent to other ranks (measured by the exchanges), next to the
// formula for them —
//   alltoall:  micro-batches × tokens per micro-batch on the rank × topk × (EP − 1)/EP × hidden × 4 B
//              per MoE layer (every routed pair's hidden state travels unless its expert is local;
//              exact on average for balanced routing without dropping, fewer with dropping)
//   allgather: micro-batches × tokens × (EP − 1) × hidden × 4 B per MoE layer (every token to every peer)
// — and every byte of the exchanges (dispatch, combine, their backward, counts and probabilities).
// Empty when the model has no expert-parallel MoE layer. Collective over the world.
#pragma once

#include <cstdint>
#include <string>

#include "config/args.hpp"
#include "model/pipeline_stage.hpp"
#include "parallel/communicator.hpp"

namespace primus::train {

struct ExpertDispatchReport {
  double measured_bytes = 0.0;  // forward-dispatch hidden states per rank per step
  double formula_bytes = 0.0;
  double total_bytes = 0.0;     // all exchange traffic per rank per step
  std::string line() const;
  bool empty = true;
};

ExpertDispatchReport expert_dispatch_report(model::PipelineStage& model, const config::Args& args, std::int64_t steps,
                                            parallel::Communicator& world);

}  // namespace primus::train
