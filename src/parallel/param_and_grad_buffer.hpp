// How the model's flat gradient (and parameter) buffer is cut into buckets for data-parallel
// reduction (Megatron-Core's param_and_grad_buffer): pure arithmetic over offsets, no MPI.
//
// The flat buffer holds one or more regions, each a contiguous range of parameters reduced over
// one data-parallel group (today: the dense region over dp×cp; with MoE, an expert region over
// the expert data-parallel group). Each region is split into buckets of at most `bucket_size`
// elements, in backward order (from the region's end, as gradients become final), each bucket a
// contiguous range of the buffer:
//  * a bucket ends where the previous one starts and begins at the first whole parameter that fits
//    (so a layer's gradients tend to complete a bucket); a parameter larger than a bucket is split
//    across buckets;
//  * with the distributed optimizer every bucket's size is a multiple of lcm(dp, 128) elements
//    (lcm(dp, 128, 2^16) with ddp_pad_buckets_for_high_nccl_busbw), Megatron's padding rule, so
//    each data-parallel rank owns an equal shard of every bucket; a region's last bucket reaches
//    past its last parameter into zero padding, which the parameter layout provides
//    (ParameterLayout::finalize's region alignment: region_alignment() below). Without it buckets
//    are 64-byte aligned and unpadded.
// Differences from Megatron, deliberate: buckets are capped at bucket_size (default 16 MiB of fp32;
// Megatron closes a bucket once it reaches 40M elements, and uses one bucket without
// overlap_grad_reduce) — the sums are the same, the staging stays small; and parameters are not
// re-aligned to 64 elements inside the buffer (the model's layout already aligns them to 16).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primus::parallel {

// 16 MiB of fp32: the largest reduction this engine issues by default.
inline constexpr std::int64_t kDefaultBucketElements = (16 << 20) / 4;

// A parameter's place in the flat buffers (floats).
struct BufferParam {
  std::int64_t offset = 0, numel = 0;
};

// A contiguous range of parameters whose gradients reduce over one data-parallel group.
struct GradRegion {
  std::string name;                 // "dense", "expert"
  std::int64_t begin = 0, end = 0;  // [begin, end) in the flat buffers
  int data_parallel_size = 1;       // size of the group reducing it
};

struct BucketOptions {
  std::int64_t bucket_size = kDefaultBucketElements;  // elements, upper bound per bucket
  bool distributed_optimizer = false;
  bool pad_for_high_nccl_busbw = false;
};

struct Bucket {
  int index = 0;                    // position in buckets()
  int region = 0;
  std::int64_t begin = 0, end = 0;  // [begin, end) in the flat buffers, padding included
  std::int64_t shard_size = 0;      // distributed optimizer: (end - begin) / dp, each rank's share
  std::vector<int> params;          // indices of the parameters with elements in this bucket

  std::int64_t numel() const { return end - begin; }
  // This data-parallel rank's shard [begin, end) of the bucket (distributed optimizer).
  std::int64_t shard_begin(int dp_rank) const { return begin + dp_rank * shard_size; }
  std::int64_t shard_end(int dp_rank) const { return begin + (dp_rank + 1) * shard_size; }
};

class ParamAndGradBuffer {
 public:
  // params: every parameter, in any order; regions: disjoint, each holding whole parameters, its
  // padded end no further than the next region's start or buffer_floats (the flat buffers' size).
  ParamAndGradBuffer(std::vector<BufferParam> params, std::vector<GradRegion> regions, std::int64_t buffer_floats,
                     const BucketOptions& options);

  // Bucket boundaries are multiples of this, counted from the region's start.
  static std::int64_t alignment(int data_parallel_size, const BucketOptions& options);
  // What the parameter layout must pad every region to so that regions reduced over groups of
  // these sizes fit their buckets: the lcm of their alignments.
  static std::int64_t region_alignment(const std::vector<int>& data_parallel_sizes, const BucketOptions& options);

  const std::vector<BufferParam>& params() const { return params_; }
  const std::vector<GradRegion>& regions() const { return regions_; }
  // In reduction order: the last region first, each from its end.
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Buckets holding elements of parameter p.
  const std::vector<int>& buckets_of(int p) const { return buckets_of_[static_cast<std::size_t>(p)]; }
  // Floats in the parameter and gradient buffers.
  std::int64_t buffer_floats() const { return buffer_floats_; }
  const BucketOptions& options() const { return options_; }

 private:
  std::vector<BufferParam> params_;
  std::vector<GradRegion> regions_;
  BucketOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::vector<int>> buckets_of_;
  std::int64_t buffer_floats_ = 0;
};

}  // namespace primus::parallel
