#include "parallel/context_parallel.hpp"

#include "core/error.hpp"

namespace primus::parallel {

std::vector<std::int32_t> context_parallel_positions(std::int64_t seq, int cp, int rank) {
  if (cp < 1 || rank < 0 || rank >= cp || seq % (2 * cp) != 0)
    fail("context parallelism: seq_length {} must be divisible by 2 × context_parallel_size {} (rank {})", seq, cp,
         rank);
  const std::int64_t chunk = seq / (2 * cp);
  std::vector<std::int32_t> positions;
  positions.reserve(static_cast<std::size_t>(seq / cp));
  for (const std::int64_t index : {static_cast<std::int64_t>(rank), 2 * static_cast<std::int64_t>(cp) - 1 - rank})
    for (std::int64_t s = 0; s < chunk; ++s) positions.push_back(static_cast<std::int32_t>(index * chunk + s));
  return positions;
}

}  // namespace primus::parallel
