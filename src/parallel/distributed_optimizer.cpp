#include "parallel/distributed_optimizer.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace primus::parallel {

std::vector<ParamPiece> optimizer_pieces(const ParamAndGradBuffer& buffer, const std::vector<int>& dp_rank_of_region) {
  const auto& params = buffer.params();
  std::vector<ParamPiece> pieces;
  if (!buffer.options().distributed_optimizer) {
    for (std::size_t p = 0; p < params.size(); ++p)
      if (params[p].numel > 0)
        pieces.push_back({static_cast<int>(p), params[p].offset, params[p].offset + params[p].numel});
    return pieces;
  }
  if (dp_rank_of_region.size() != buffer.regions().size())
    fail("internal: {} data-parallel ranks for {} gradient regions", dp_rank_of_region.size(), buffer.regions().size());
  for (const Bucket& b : buffer.buckets()) {
    const int r = dp_rank_of_region[static_cast<std::size_t>(b.region)];
    const std::int64_t lo = b.shard_begin(r), hi = b.shard_end(r);
    for (int p : b.params) {
      const BufferParam& q = params[static_cast<std::size_t>(p)];
      const std::int64_t begin = std::max(lo, q.offset), end = std::min(hi, q.offset + q.numel);
      if (begin < end) pieces.push_back({p, begin, end});
    }
  }
  // Buffer order: the optimizer walks memory forwards.
  std::sort(pieces.begin(), pieces.end(), [](const ParamPiece& a, const ParamPiece& b) { return a.begin < b.begin; });
  return pieces;
}

}  // namespace primus::parallel
