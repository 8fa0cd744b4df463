#include "parallel/distributed_data_parallel.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <numeric>

#include "core/error.hpp"
#include "kernels/elementwise.hpp"

namespace primus::parallel {

DdpConfig DdpConfig::from_args(const config::Args& a) {
  DdpConfig c;
  c.overlap_grad_reduce = a.overlap_grad_reduce;
  c.use_distributed_optimizer = a.use_distributed_optimizer;
  c.overlap_param_gather = a.overlap_param_gather;
  // Megatron (arguments.py): bf16 accumulates and reduces gradients in fp32 unless
  // grad_reduce_in_bf16; fp32 runs reduce in fp32 whatever the flags say.
  c.grad_reduce_in_bf16 = a.bf16 && a.grad_reduce_in_bf16;
  c.average_in_collective = a.ddp_average_in_collective;
  if (a.ddp_bucket_size) {
    if (*a.ddp_bucket_size <= 0) fail("ddp_bucket_size = {} must be a positive number of elements", *a.ddp_bucket_size);
    c.bucket_size = *a.ddp_bucket_size;
  }
  if (a.ddp_num_buckets) {
    if (*a.ddp_num_buckets <= 0) fail("ddp_num_buckets = {} must be positive", *a.ddp_num_buckets);
    c.num_buckets = *a.ddp_num_buckets;
  }
  c.pad_for_high_nccl_busbw = a.ddp_pad_buckets_for_high_nccl_busbw;
  if (a.num_distributed_optimizer_instances != 1)
    fail("num_distributed_optimizer_instances = {}: partial distributed optimizers are not supported by this engine; "
         "use 1",
         a.num_distributed_optimizer_instances);
  if (c.overlap_param_gather && !(c.use_distributed_optimizer && c.overlap_grad_reduce))
    fail("overlap_param_gather needs use_distributed_optimizer and overlap_grad_reduce");
  return c;
}

BucketOptions DdpConfig::bucket_options(std::int64_t num_parameters) const {
  BucketOptions o;
  if (num_buckets)
    o.bucket_size = std::max<std::int64_t>(1, num_parameters / *num_buckets);
  else if (bucket_size)
    o.bucket_size = *bucket_size;
  else
    o.bucket_size = kDefaultBucketElements;
  o.distributed_optimizer = use_distributed_optimizer;
  o.pad_for_high_nccl_busbw = pad_for_high_nccl_busbw;
  // A bucket must hold at least one aligned chunk.
  o.bucket_size = std::max(o.bucket_size, ParamAndGradBuffer::alignment(1, o));
  return o;
}

DistributedDataParallel::DistributedDataParallel(const DdpConfig& config, const ParamAndGradBuffer& buffer,
                                                 std::vector<Communicator*> region_groups, int dp_cp_size,
                                                 float* params, float* grads, bf16* params_bf16)
    : config_(config), buffer_(buffer), params_(params), grads_(grads), params_bf16_(params_bf16) {
  if (region_groups.size() != buffer.regions().size())
    fail("internal: {} communicators for {} gradient regions", region_groups.size(), buffer.regions().size());
  if (config.use_distributed_optimizer != buffer.options().distributed_optimizer)
    fail("internal: bucket layout and DDP disagree about the distributed optimizer");
  bool any_remote = false;
  for (std::size_t i = 0; i < region_groups.size(); ++i) {
    if (region_groups[i]->size() != buffer.regions()[i].data_parallel_size)
      fail("internal: region '{}' planned for {} ranks, its group has {}", buffer.regions()[i].name,
           buffer.regions()[i].data_parallel_size, region_groups[i]->size());
    any_remote = any_remote || region_groups[i]->size() > 1;
  }
  state_.resize(buffer.buckets().size());
  for (const Bucket& b : buffer.buckets()) {
    BucketState& s = state_[static_cast<std::size_t>(b.index)];
    s.group = region_groups[static_cast<std::size_t>(b.region)];
    const float n = static_cast<float>(s.group->size()), target = static_cast<float>(dp_cp_size);
    if (config_.average_in_collective) {
      s.pre_scale = n / target;  // 1 for dense regions, |edp|/|dp×cp| for expert ones
      s.post_scale = 1.0f / n;
    } else {
      s.pre_scale = 1.0f / target;
      s.post_scale = 1.0f;
    }
  }
  params_by_offset_.resize(buffer.params().size());
  std::iota(params_by_offset_.begin(), params_by_offset_.end(), 0);
  std::sort(params_by_offset_.begin(), params_by_offset_.end(), [&](int a, int b) {
    return buffer.params()[static_cast<std::size_t>(a)].offset < buffer.params()[static_cast<std::size_t>(b)].offset;
  });
  param_ready_.assign(buffer.params().size(), 0);
  started_order_.reserve(buffer.buckets().size());
  if (config_.grad_reduce_in_bf16 && any_remote) staging_ = AlignedBuffer<bf16>(static_cast<std::size_t>(buffer.buffer_floats()));
}

void DistributedDataParallel::start_last_micro_batch() {
  if (!config_.overlap_grad_reduce) return;
  tracking_ = true;
  std::fill(param_ready_.begin(), param_ready_.end(), 0);
  for (BucketState& s : state_) s.ready = 0;
}

void DistributedDataParallel::grad_ready(std::int64_t begin, std::int64_t end) {
  if (!tracking_) return;
  const auto& params = buffer_.params();
  auto it = std::lower_bound(params_by_offset_.begin(), params_by_offset_.end(), begin,
                             [&](int p, std::int64_t v) { return params[static_cast<std::size_t>(p)].offset < v; });
  for (; it != params_by_offset_.end(); ++it) {
    const BufferParam& q = params[static_cast<std::size_t>(*it)];
    if (q.offset >= end) break;
    if (q.offset + q.numel > end || q.numel == 0) continue;
    char& ready = param_ready_[static_cast<std::size_t>(*it)];
    if (ready) fail("internal: gradients of the parameter at offset {} reported final twice in one step", q.offset);
    ready = 1;
    for (int b : buffer_.buckets_of(*it)) {
      BucketState& s = state_[static_cast<std::size_t>(b)];
      if (++s.ready == static_cast<int>(buffer_.buckets()[static_cast<std::size_t>(b)].params.size())) start_grad_sync(b);
    }
  }
  progress();
}

void DistributedDataParallel::start_grad_sync(int index) {
  const Bucket& b = buffer_.buckets()[static_cast<std::size_t>(index)];
  BucketState& s = state_[static_cast<std::size_t>(index)];
  if (s.grad_started) fail("internal: bucket {} reduced twice in one step", index);
  s.grad_started = true;
  started_order_.push_back(index);
  float* g = grads_ + b.begin;
  if (s.group->size() == 1) {
    // Nothing to reduce; but an expert region whose expert-data-parallel group is this rank alone
    // (expert parallelism over all data-parallel ranks) still takes the data-parallel average's 1/|dp×cp|.
    if (const float f = s.pre_scale * s.post_scale; f != 1.0f) kernels::scale(g, f, b.numel());
    return;
  }
  if (s.pre_scale != 1.0f) kernels::scale(g, s.pre_scale, b.numel());
  if (!staging_.size()) {
    s.grad_request = config_.use_distributed_optimizer ? s.group->ireduce_scatter(g, b.shard_size, index)
                                                       : s.group->iallreduce(g, b.numel(), ReduceOp::Sum, index);
    return;
  }
  bf16* w = staging_.data() + b.begin;
  convert_f32_to_bf16(g, w, static_cast<std::size_t>(b.numel()));
  s.grad_request = config_.use_distributed_optimizer ? s.group->ireduce_scatter(w, b.shard_size, index)
                                                     : s.group->iallreduce(w, b.numel(), ReduceOp::Sum, index);
}

void DistributedDataParallel::complete_grad_sync(int index) {
  const Bucket& b = buffer_.buckets()[static_cast<std::size_t>(index)];
  BucketState& s = state_[static_cast<std::size_t>(index)];
  s.group->wait(s.grad_request);
  if (s.group->size() == 1) return;
  const bool scatter = config_.use_distributed_optimizer;
  const std::int64_t n = scatter ? b.shard_size : b.numel();
  // In-place reduce-scatter leaves this rank's chunk at the bucket's start; move it to the shard.
  float* result = grads_ + (scatter ? b.shard_begin(s.group->rank()) : b.begin);
  if (staging_.size())
    convert_bf16_to_f32(staging_.data() + b.begin, result, static_cast<std::size_t>(n));
  else if (result != grads_ + b.begin)
    std::memmove(result, grads_ + b.begin, static_cast<std::size_t>(n) * sizeof(float));
  if (s.post_scale != 1.0f) kernels::scale(result, s.post_scale, n);
}

void DistributedDataParallel::finish_grad_sync() {
  const int buckets = static_cast<int>(state_.size());
  if (tracking_) {
    for (int i = 0; i < buckets; ++i)
      if (!state_[static_cast<std::size_t>(i)].grad_started)
        fail("internal: overlap_grad_reduce: the gradients of bucket {} [{}, {}) were never all reported final during "
             "backward",
             i, buffer_.buckets()[static_cast<std::size_t>(i)].begin, buffer_.buckets()[static_cast<std::size_t>(i)].end);
  } else {
    for (int i = 0; i < buckets; ++i) start_grad_sync(i);
  }
  for (int index : started_order_) complete_grad_sync(index);
  for (BucketState& s : state_) s.grad_started = false;
  started_order_.clear();
  tracking_ = false;
}

void DistributedDataParallel::start_param_sync() {
  if (!config_.use_distributed_optimizer) return;
  // Forward order (the buffer's start first): the first layers' parameters arrive first.
  for (int i = static_cast<int>(state_.size()) - 1; i >= 0; --i) {
    const Bucket& b = buffer_.buckets()[static_cast<std::size_t>(i)];
    BucketState& s = state_[static_cast<std::size_t>(i)];
    if (s.group->size() == 1) continue;
    s.param_request = s.group->iallgather(params_ + b.begin, b.shard_size, i);
    s.param_pending = true;
    any_param_pending_ = true;
  }
  if (!config_.overlap_param_gather) finish_param_sync();
}

void DistributedDataParallel::complete_param_sync(int index) {
  const Bucket& b = buffer_.buckets()[static_cast<std::size_t>(index)];
  BucketState& s = state_[static_cast<std::size_t>(index)];
  s.group->wait(s.param_request);
  s.param_pending = false;
  if (!params_bf16_) return;
  // This rank's own shard got its bf16 copy from the optimizer; refresh the rest.
  const std::int64_t lo = b.shard_begin(s.group->rank()), hi = b.shard_end(s.group->rank());
  convert_f32_to_bf16(params_ + b.begin, params_bf16_ + b.begin, static_cast<std::size_t>(lo - b.begin));
  convert_f32_to_bf16(params_ + hi, params_bf16_ + hi, static_cast<std::size_t>(b.end - hi));
}

void DistributedDataParallel::params_needed(std::int64_t begin, std::int64_t end) {
  if (!any_param_pending_) return;
  bool pending = false;
  for (const Bucket& b : buffer_.buckets()) {
    BucketState& s = state_[static_cast<std::size_t>(b.index)];
    if (s.param_pending && b.begin < end && b.end > begin) complete_param_sync(b.index);
    pending = pending || s.param_pending;
  }
  any_param_pending_ = pending;
  progress();
}

DistributedDataParallel::~DistributedDataParallel() {
  // Not while an exception unwinds: the peers may never take part, and the run is ending anyway
  // (the collective error path aborts every rank).
  if (std::uncaught_exceptions() > 0) return;
  try {
    finish_param_sync();
  } catch (...) {
  }
}

void DistributedDataParallel::finish_param_sync() {
  if (!any_param_pending_) return;
  for (int i = static_cast<int>(state_.size()) - 1; i >= 0; --i)
    if (state_[static_cast<std::size_t>(i)].param_pending) complete_param_sync(i);
  any_param_pending_ = false;
}

void DistributedDataParallel::progress() {
  for (BucketState& s : state_) {
    if (s.grad_request.pending()) s.group->test(s.grad_request);
    if (s.param_request.pending()) s.group->test(s.param_request);
  }
}

}  // namespace primus::parallel
