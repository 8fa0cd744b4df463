#include "train/pipeline_executor.hpp"

#include <cstring>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace primus::train {

using parallel::PipelineAction;
using Kind = PipelineAction::Kind;

std::vector<PipelineAction> training_schedule(const PipelineShape& s) {
  if (s.chunks == 1) return parallel::schedule_1f1b(s.pp, s.rank, s.microbatches);
  parallel::check_interleaved(s.pp, s.microbatches, s.chunks, s.group);
  return parallel::schedule_interleaved(s.pp, s.rank, s.microbatches, s.chunks, s.group);
}

std::int64_t activation_slots(const PipelineShape& s) { return parallel::max_in_flight(training_schedule(s), s.chunks); }

PipelineExecutor::PipelineExecutor(model::PipelineStage& stage, parallel::Communicator& pp_group,
                                   const PipelineShape& shape)
    : stage_(stage),
      pp_(pp_group),
      shape_(shape),
      slots_(stage.activation_slots()),
      elements_(stage.local_tokens() * stage.config().hidden) {
  if (pp_.size() != shape.pp || pp_.rank() != shape.rank || stage.num_chunks() != shape.chunks)
    fail("internal: pipeline executor for rank {} of {} with {} chunks on a group of {} and a stage of {} chunks",
         shape.rank, shape.pp, shape.chunks, pp_.size(), stage.num_chunks());
  schedule_ = training_schedule(shape);
  if (parallel::max_in_flight(schedule_, shape.chunks) > slots_)
    fail("internal: the schedule holds more micro-batches than the stage's {} activation slots", slots_);
  // Forward only: every micro-batch of chunk 0, then chunk 1, … group by group (the order of the
  // schedule's forwards).
  if (shape.chunks == 1) {
    for (std::int64_t m = 0; m < shape.microbatches; ++m) forward_only_.push_back({Kind::Forward, m, 0});
  } else {
    for (const auto& [m, c] : parallel::interleaved_table(shape.microbatches, shape.chunks, shape.group))
      forward_only_.push_back({Kind::Forward, m, c});
  }
  prev_ = static_cast<int>((shape.rank + shape.pp - 1) % shape.pp);
  next_ = static_cast<int>((shape.rank + 1) % shape.pp);
  staging_.resize(static_cast<size_t>(elements_));
  free_.resize(static_cast<size_t>(shape.chunks));
  slot_of_.assign(static_cast<size_t>(shape.microbatches * shape.chunks), -1);
}

bool PipelineExecutor::needs_receive(const PipelineAction& a) const {
  const model::StageRange& r = stage_.chunk(a.chunk);
  return a.kind == Kind::Forward ? !r.pre_process : !r.post_process;
}

namespace {
// Tags: direction and the receiving chunk.
int tag_of(Kind kind, std::int64_t receiver_chunk, std::int64_t chunks) {
  return static_cast<int>((kind == Kind::Forward ? 0 : chunks) + receiver_chunk);
}
}  // namespace

bool PipelineExecutor::post_receive(const PipelineAction& a) {
  const std::int64_t V = shape_.chunks;
  if (a.kind == Kind::Forward) {
    receive_ = pp_.irecv(staging_.data(), elements_, prev_, tag_of(Kind::Forward, a.chunk, V));
    return true;
  }
  const std::int64_t slot = slot_of_[static_cast<size_t>(a.microbatch * V + a.chunk)];
  if (slot < 0) return false;  // its forward has not run yet
  receive_ = pp_.irecv(stage_.chunk_grad(a.chunk, slot), elements_, next_, tag_of(Kind::Backward, a.chunk, V));
  return true;
}

std::int64_t PipelineExecutor::acquire(std::int64_t chunk) {
  auto& free = free_[static_cast<size_t>(chunk)];
  if (free.empty()) fail("internal: no free activation slot for pipeline chunk {}", chunk);
  const std::int64_t slot = free.back();
  free.pop_back();
  return slot;
}

void PipelineExecutor::send(const float* data, int peer, int tag) {
  SendBuffer* buffer = nullptr;
  for (auto& b : sends_)
    if (pp_.test(b->request)) {
      buffer = b.get();
      break;
    }
  if (!buffer) {
    sends_.push_back(std::make_unique<SendBuffer>());
    buffer = sends_.back().get();
    buffer->data.resize(static_cast<size_t>(elements_));
  }
  std::memcpy(buffer->data.data(), data, static_cast<size_t>(elements_) * sizeof(float));
  buffer->request = pp_.isend(buffer->data.data(), elements_, peer, tag);
}

double PipelineExecutor::train(const BatchOf& batch, const std::vector<float>& weight,
                               const std::function<model::MicroBatchState(std::int64_t)>& state) {
  return run(schedule_, true, batch, &weight, &state);
}

double PipelineExecutor::evaluate(const BatchOf& batch) { return run(forward_only_, false, batch, nullptr, nullptr); }

double PipelineExecutor::run(const std::vector<PipelineAction>& actions, bool training, const BatchOf& batch,
                             const std::vector<float>* weight,
                             const std::function<model::MicroBatchState(std::int64_t)>* state) {
  const double start = monotonic_seconds();
  const std::int64_t V = shape_.chunks, P = shape_.pp, rank = shape_.rank;
  for (std::int64_t c = 0; c < V; ++c) {
    auto& free = free_[static_cast<size_t>(c)];
    free.clear();
    for (std::int64_t s = slots_ - 1; s >= 0; --s) free.push_back(s);
  }
  std::fill(slot_of_.begin(), slot_of_.end(), -1);
  wait_seconds_ = 0;
  std::int64_t posted = -1;  // index of the action whose receive is in flight
  double loss = 0.0;
  const auto bytes = static_cast<size_t>(elements_) * sizeof(float);
  for (std::size_t k = 0; k < actions.size(); ++k) {
    const PipelineAction& a = actions[k];
    const model::StageRange& range = stage_.chunk(a.chunk);
    const model::MicroBatch mb = batch(a.microbatch);
    const model::MicroBatchState st = state ? (*state)(a.microbatch) : model::PipelineStage::eval_state();
    std::int64_t& slot = slot_of_[static_cast<size_t>(a.microbatch * V + a.chunk)];
    if (a.kind == Kind::Forward) slot = acquire(a.chunk);
    if (needs_receive(a)) {
      if (posted != static_cast<std::int64_t>(k)) post_receive(a);
      const double w0 = monotonic_seconds();
      pp_.wait(receive_);
      wait_seconds_ += monotonic_seconds() - w0;
      if (a.kind == Kind::Forward) std::memcpy(stage_.chunk_input(a.chunk, slot), staging_.data(), bytes);
    }
    posted = -1;
    if (k + 1 < actions.size() && needs_receive(actions[k + 1]) && post_receive(actions[k + 1]))
      posted = static_cast<std::int64_t>(k + 1);

    if (a.kind == Kind::Forward) {
      loss += training ? stage_.forward_chunk(a.chunk, slot, mb, (*weight)[static_cast<size_t>(a.microbatch)], st)
                       : stage_.forward_chunk_only(a.chunk, slot, mb, nullptr, st);
      if (!range.post_process) {
        const std::int64_t receiver = rank == P - 1 ? a.chunk + 1 : a.chunk;
        send(stage_.chunk_output(a.chunk, slot), next_, tag_of(Kind::Forward, receiver, V));
      }
      if (!training) free_[static_cast<size_t>(a.chunk)].push_back(slot);
    } else {
      stage_.backward_chunk(a.chunk, slot, mb, st);
      if (!range.pre_process) {
        const std::int64_t receiver = rank == 0 ? a.chunk - 1 : a.chunk;
        send(stage_.chunk_grad(a.chunk, slot), prev_, tag_of(Kind::Backward, receiver, V));
      }
      free_[static_cast<size_t>(a.chunk)].push_back(slot);
    }
  }
  for (auto& b : sends_) pp_.wait(b->request);
  step_seconds_ = monotonic_seconds() - start;
  return loss;
}

}  // namespace primus::train
