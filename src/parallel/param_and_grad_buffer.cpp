#include "parallel/param_and_grad_buffer.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace primus::parallel {

namespace {

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

}  // namespace

std::int64_t ParamAndGradBuffer::alignment(int data_parallel_size, const BucketOptions& o) {
  if (!o.distributed_optimizer) return 16;  // 64 bytes of fp32
  std::int64_t l = std::lcm<std::int64_t>(data_parallel_size, 128);
  if (o.pad_for_high_nccl_busbw) l = std::lcm<std::int64_t>(l, std::int64_t{1} << 16);
  return l;
}

std::int64_t ParamAndGradBuffer::region_alignment(const std::vector<int>& data_parallel_sizes,
                                                  const BucketOptions& options) {
  std::int64_t a = 16;
  for (int n : data_parallel_sizes) a = std::lcm(a, alignment(n, options));
  return a;
}

ParamAndGradBuffer::ParamAndGradBuffer(std::vector<BufferParam> params, std::vector<GradRegion> regions,
                                       std::int64_t buffer_floats, const BucketOptions& options)
    : params_(std::move(params)), regions_(std::move(regions)), options_(options), buffer_floats_(buffer_floats) {
  buckets_of_.resize(params_.size());
  // Parameters in buffer order, for the searches below.
  std::vector<int> order(params_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return params_[static_cast<std::size_t>(a)].offset < params_[static_cast<std::size_t>(b)].offset;
  });
  std::vector<int> region_order(regions_.size());
  std::iota(region_order.begin(), region_order.end(), 0);
  std::sort(region_order.begin(), region_order.end(), [&](int a, int b) {
    return regions_[static_cast<std::size_t>(a)].begin < regions_[static_cast<std::size_t>(b)].begin;
  });

  std::vector<std::int64_t> padded_end(regions_.size());
  for (std::size_t k = 0; k < region_order.size(); ++k) {
    const GradRegion& r = regions_[static_cast<std::size_t>(region_order[k])];
    if (r.begin < 0 || r.end < r.begin || r.begin % 16 != 0)
      fail("internal: gradient region '{}' [{}, {}) is not a 64-byte aligned range", r.name, r.begin, r.end);
    if (r.data_parallel_size < 1) fail("internal: gradient region '{}' with group size {}", r.name, r.data_parallel_size);
    const std::int64_t l = alignment(r.data_parallel_size, options_);
    std::int64_t end = r.begin + round_up(r.end - r.begin, l);
    padded_end[static_cast<std::size_t>(region_order[k])] = end;
    const bool last = k + 1 == region_order.size();
    const std::int64_t limit = last ? buffer_floats_ : regions_[static_cast<std::size_t>(region_order[k + 1])].begin;
    if (end > limit)
      fail("internal: gradient region '{}' [{}, {}) needs padding to {} (buckets in multiples of {}) but the next {} "
           "starts at {}; the parameter layout must pad regions to ParamAndGradBuffer::region_alignment()",
           r.name, r.begin, r.end, end, l, last ? "buffer end" : "region", limit);
  }
  for (const BufferParam& p : params_) {
    bool inside = false;
    for (const GradRegion& r : regions_) inside = inside || (p.offset >= r.begin && p.offset + p.numel <= r.end);
    if (!inside) fail("internal: parameter at [{}, {}) lies in no gradient region", p.offset, p.offset + p.numel);
  }

  // Buckets: the last region first, each from its end backwards (the order backward finishes them).
  for (auto it = region_order.rbegin(); it != region_order.rend(); ++it) {
    const int ri = *it;
    const GradRegion& r = regions_[static_cast<std::size_t>(ri)];
    const std::int64_t l = alignment(r.data_parallel_size, options_);
    const std::int64_t cap = options_.bucket_size / l * l;
    if (cap < l)
      fail("ddp_bucket_size {} is smaller than one aligned chunk of {} elements (lcm of the data-parallel size and 128)",
           options_.bucket_size, l);
    std::int64_t end = padded_end[static_cast<std::size_t>(ri)];
    while (end > r.begin) {
      const std::int64_t lowest = end - cap;
      std::int64_t start = r.begin;
      if (lowest > r.begin) {
        // The first parameter starting at or after `lowest`: everything from it on fits whole.
        auto first = std::lower_bound(order.begin(), order.end(), lowest, [&](int p, std::int64_t v) {
          return params_[static_cast<std::size_t>(p)].offset < v;
        });
        start = end;
        if (first != order.end()) start = r.begin + round_up(params_[static_cast<std::size_t>(*first)].offset - r.begin, l);
        if (start >= end) start = lowest;  // one parameter larger than a bucket: split it
      }
      Bucket b;
      b.index = static_cast<int>(buckets_.size());
      b.region = ri;
      b.begin = start;
      b.end = end;
      b.shard_size = options_.distributed_optimizer ? b.numel() / r.data_parallel_size : 0;
      buckets_.push_back(std::move(b));
      end = start;
    }
  }
  // Which parameters each bucket holds.
  for (Bucket& b : buckets_) {
    for (int p : order) {
      const BufferParam& q = params_[static_cast<std::size_t>(p)];
      if (q.numel > 0 && q.offset < b.end && q.offset + q.numel > b.begin) {
        b.params.push_back(p);
        buckets_of_[static_cast<std::size_t>(p)].push_back(b.index);
      }
    }
  }
}

}  // namespace primus::parallel
