// Runs one global batch's micro-batches through this rank's pipeline stage in the order of
// Megatron-Core's schedules (parallel/pipeline_schedule.hpp: 1F1B, or interleaved 1F1B when the
// stage holds several model chunks), moving activations (b·s/sp, h) forward and their gradients
// backward between neighbouring stages with non-blocking MPI point-to-point messages.
//
//  * Each forward takes a free activation slot of its chunk (the schedule's in-flight bound sizes
//    them, activation_slots()); its backward frees it.
//  * What a rank sends is copied to a send buffer first (a [b·s/sp, h] copy, small next to a
//    layer's work), so that no computation ever waits for a neighbour to take a message: waiting
//    on sends before reusing activation memory can close a cycle between two ranks that each
//    wait for the other's receive. Send buffers are reused once their send completed; the pool
//    grows during the first step only (every step runs the same schedule).
//  * The receive for the next action is posted before the current one computes (Megatron's
//    overlap_p2p_comm), so a neighbour's message lands while this rank works; every wait is
//    watched by the collective timeout. Messages are tagged by direction and receiving chunk;
//    between two ranks MPI keeps each tag's messages in order, and every chunk sees its
//    micro-batches in the same order on both sides.
//  * Without pipeline parallelism (one stage, one chunk) it is F0 B0 F1 B1 …: the one-process path.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/pipeline_stage.hpp"
#include "parallel/communicator.hpp"
#include "parallel/pipeline_schedule.hpp"

namespace primus::train {

struct PipelineShape {
  std::int64_t pp = 1, rank = 0;   // pipeline size and this rank's place
  std::int64_t microbatches = 1;   // per global batch on this data-parallel rank
  std::int64_t chunks = 1;         // model chunks per rank (virtual stages)
  std::int64_t group = 1;          // microbatch_group_size_per_vp_stage (interleaved)
};

// This rank's training schedule (Megatron's checks for the interleaved one throw primus::Error).
std::vector<parallel::PipelineAction> training_schedule(const PipelineShape& shape);
// Micro-batches whose activations a chunk holds at once under that schedule.
std::int64_t activation_slots(const PipelineShape& shape);

class PipelineExecutor {
 public:
  // stage: built with activation_slots(shape) slots; pp_group: the pipeline group (size shape.pp).
  PipelineExecutor(model::PipelineStage& stage, parallel::Communicator& pp_group, const PipelineShape& shape);

  using BatchOf = std::function<model::MicroBatch(std::int64_t)>;
  // Forward and backward of every micro-batch; gradients accumulate in the stage. weight[m] is
  // micro-batch m's loss weight, state(m) its MicroBatchState. Returns Σ loss·mask (the stage
  // holding the loss; 0 elsewhere).
  double train(const BatchOf& batch, const std::vector<float>& weight,
               const std::function<model::MicroBatchState(std::int64_t)>& state);
  // Forward only (evaluation), in the schedule's forward order.
  double evaluate(const BatchOf& batch);

  const std::vector<parallel::PipelineAction>& schedule() const { return schedule_; }
  // Seconds the last train() spent waiting for a neighbour's activations or gradients, and its
  // total seconds (pipeline_bench measures the bubble from these).
  double last_wait_seconds() const { return wait_seconds_; }
  double last_step_seconds() const { return step_seconds_; }

 private:
  double run(const std::vector<parallel::PipelineAction>& actions, bool training, const BatchOf& batch,
             const std::vector<float>* weight, const std::function<model::MicroBatchState(std::int64_t)>* state);
  bool needs_receive(const parallel::PipelineAction& a) const;
  // Posts the receive for action a into its buffer; false when that buffer is not known yet.
  bool post_receive(const parallel::PipelineAction& a);
  std::int64_t acquire(std::int64_t chunk);
  void send(const float* data, int peer, int tag);

  model::PipelineStage& stage_;
  parallel::Communicator& pp_;
  PipelineShape shape_;
  std::int64_t slots_, elements_;
  int prev_, next_;
  std::vector<parallel::PipelineAction> schedule_, forward_only_;
  std::vector<float> staging_;                           // a forward input received early
  std::vector<std::vector<std::int64_t>> free_;          // per chunk
  std::vector<std::int64_t> slot_of_;                    // [microbatch · chunks + chunk]
  struct SendBuffer {
    std::vector<float> data;
    parallel::Request request;
  };
  std::vector<std::unique_ptr<SendBuffer>> sends_;
  parallel::Request receive_;
  const parallel::PipelineAction* received_for_ = nullptr;
  double wait_seconds_ = 0, step_seconds_ = 0;
};

}  // namespace primus::train
