// Data-parallel gradient and parameter synchronisation over the model's flat buffers
// (Megatron-Core's DistributedDataParallel with its bucket groups):
//
//  * Gradients: every bucket (param_and_grad_buffer.hpp) is pre-multiplied by 1/|dp×cp| and
//    summed over its region's data-parallel group — all-reduced, or reduce-scattered into this
//    rank's shard with the distributed optimizer — so the result is the mean over data-parallel
//    ranks (ddp_average_in_collective: summed, then divided, expert regions pre-scaled by
//    |expert dp|/|dp×cp| as Megatron does). With grad_reduce_in_bf16 (bf16 runs) a bucket travels
//    and is summed as bf16; gradients still accumulate over micro-batches in fp32.
//  * overlap_grad_reduce: the model reports ranges whose gradients are final during the backward
//    of the step's last micro-batch (grad_ready); a bucket's non-blocking reduction starts as soon
//    as all its parameters are in, and finish_grad_sync() waits for the rest. Without overlap all
//    buckets start in finish_grad_sync(). Either way buckets are issued in the same order on
//    every rank, as MPI requires.
//  * Distributed optimizer parameters: after the step each rank all-gathers its updated shard of
//    every bucket (fp32; the bf16 compute copy is refreshed from it). With overlap_param_gather the
//    gathers run while the next forward starts and the model's params_needed hook waits for a
//    bucket just before its parameters are used.
// MPI progresses only inside MPI calls, so every hook also tests the outstanding requests.
// Nothing is allocated after construction.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "config/args.hpp"
#include "core/aligned.hpp"
#include "core/dtype.hpp"
#include "parallel/communicator.hpp"
#include "parallel/param_and_grad_buffer.hpp"

namespace primus::parallel {

struct DdpConfig {
  bool overlap_grad_reduce = false;
  bool use_distributed_optimizer = false;
  bool overlap_param_gather = false;
  bool grad_reduce_in_bf16 = false;      // bf16 on the wire (Megatron: bf16 and grad_reduce_in_bf16)
  bool average_in_collective = false;    // ddp_average_in_collective
  std::optional<std::int64_t> bucket_size;   // ddp_bucket_size (elements)
  std::optional<std::int64_t> num_buckets;   // ddp_num_buckets
  bool pad_for_high_nccl_busbw = false;

  static DdpConfig from_args(const config::Args& args);
  // Megatron's resolve_ddp_bucket_size, capped by default at 16 MiB of fp32 per bucket.
  BucketOptions bucket_options(std::int64_t num_parameters) const;
};

class DistributedDataParallel {
 public:
  // region_groups[i] reduces buffer.regions()[i]; dp_cp_size is |dp×cp| (the averaging target).
  // params/grads (and params_bf16 in bf16 runs) must hold buffer.buffer_floats() elements.
  DistributedDataParallel(const DdpConfig& config, const ParamAndGradBuffer& buffer,
                          std::vector<Communicator*> region_groups, int dp_cp_size, float* params, float* grads,
                          bf16* params_bf16);
  // Completes a parameter all-gather still in flight (overlap_param_gather between steps): MPI
  // would otherwise write into the model's buffers after they are gone.
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  const ParamAndGradBuffer& buffer() const { return buffer_; }
  const DdpConfig& config() const { return config_; }

  // Call before the backward of the step's last micro-batch when overlap_grad_reduce is on: from
  // then on grad_ready() starts each bucket once its gradients are final.
  void start_last_micro_batch();
  // The model's hook: the gradients of every parameter inside [begin, end) are final.
  void grad_ready(std::int64_t begin, std::int64_t end);
  // Starts what has not started, waits for everything, applies the scaling. Gradients are then
  // the data-parallel mean — only on this rank's shards with the distributed optimizer.
  void finish_grad_sync();

  // Distributed optimizer, after the optimizer step: all-gathers the updated shards (and waits,
  // unless overlap_param_gather). No-op without the distributed optimizer.
  void start_param_sync();
  // The model's forward hook: parameters in [begin, end) are about to be read.
  void params_needed(std::int64_t begin, std::int64_t end);
  void finish_param_sync();

  // Floats of communication staging this object holds (bf16 wire buffer).
  std::int64_t staging_floats() const { return static_cast<std::int64_t>(staging_.size()) / 2; }

 private:
  struct BucketState {
    Communicator* group = nullptr;
    float pre_scale = 1.0f, post_scale = 1.0f;
    int ready = 0;            // parameters of the bucket reported final
    bool grad_started = false;
    bool param_pending = false;
    Request grad_request, param_request;
  };
  void start_grad_sync(int bucket);
  void complete_grad_sync(int bucket);
  void complete_param_sync(int bucket);
  void progress();

  DdpConfig config_;
  const ParamAndGradBuffer& buffer_;
  float* params_;
  float* grads_;
  bf16* params_bf16_;
  std::vector<BucketState> state_;
  std::vector<int> params_by_offset_;   // parameter indices sorted by offset
  std::vector<char> param_ready_;
  std::vector<int> started_order_;      // buckets in the order their reductions started
  bool tracking_ = false;
  bool any_param_pending_ = false;
  AlignedBuffer<bf16> staging_;         // bf16 wire copy of the gradient buffer (grad_reduce_in_bf16)
};

}  // namespace primus::parallel
