// How this process' copy of the model is split (tensor, sequence, context and expert parallelism), and the
// communicators the blocks use at their boundaries. A default ModelParallel is one process: every
// group is this process alone and every collective is a no-op.
#pragma once

#include "parallel/communicator.hpp"

namespace primus::model {

struct ModelParallel {
  parallel::Communicator* tp = nullptr;        // tensor-parallel group
  bool sequence_parallel = false;              // norms, residuals and MoE routing on a sequence shard
  parallel::Communicator* cp = nullptr;        // context-parallel group: attention's K/V ring
  parallel::Communicator* tp_cp = nullptr;     // MoE aux-loss token counts (Megatron: tensor × context)
  parallel::Communicator* tp_dp_cp = nullptr;  // global_aux_loss token counts (tensor × data × context)
  parallel::Communicator* ep = nullptr;        // expert-model-parallel group: owners of the routed experts
  parallel::Communicator* expert_tp = nullptr; // expert-tensor-parallel group: shards of each local expert

  int tp_size() const { return tp ? tp->size() : 1; }
  int tp_rank() const { return tp ? tp->rank() : 0; }
  // Context-parallel ranks hold 2 of the 2·cp chunks of each sequence (parallel/context_parallel.hpp).
  int cp_size() const { return cp ? cp->size() : 1; }
  int cp_rank() const { return cp ? cp->rank() : 0; }
  parallel::Communicator& cp_group() const { return cp ? *cp : self(); }
  // The group, or a group of one when the model runs on one process.
  parallel::Communicator& tp_group() const { return tp ? *tp : self(); }
  parallel::Communicator& tp_cp_group() const { return tp_cp ? *tp_cp : self(); }
  parallel::Communicator& tp_dp_cp_group() const { return tp_dp_cp ? *tp_dp_cp : self(); }
  parallel::Communicator& ep_group() const { return ep ? *ep : self(); }
  int ep_size() const { return ep ? ep->size() : 1; }
  int ep_rank() const { return ep ? ep->rank() : 0; }
  parallel::Communicator& expert_tp_group() const { return expert_tp ? *expert_tp : self(); }
  int expert_tp_size() const { return expert_tp ? expert_tp->size() : 1; }
  int expert_tp_rank() const { return expert_tp ? expert_tp->rank() : 0; }
  // Sequence-parallel ranks hold 1/sp of each sequence's positions.
  int sp() const { return sequence_parallel ? tp_size() : 1; }

 private:
  static parallel::Communicator& self() {
    static parallel::Communicator one("self");
    return one;
  }
};

}  // namespace primus::model
