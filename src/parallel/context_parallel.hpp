// Context parallelism's split of each sequence (Megatron's get_batch_on_this_cp_rank): the
// sequence is cut into 2·cp equal chunks and CP rank r holds chunks r and 2·cp−1−r, in that order.
// Causal attention costs more for later chunks; pairing an early chunk with a late one gives every
// rank the same work. Every tensor along the sequence (tokens, labels, loss mask, positions) is
// split the same way; rotary embeddings use the global positions of the chunks a rank holds.
#pragma once

#include <cstdint>
#include <vector>

namespace primus::parallel {

// Global position of each of the seq / cp sequence indices that CP rank `rank` holds.
std::vector<std::int32_t> context_parallel_positions(std::int64_t seq, int cp, int rank);

// local [batch, seq/cp, width] = the rows of full [batch, seq, width] that CP rank `rank` holds.
template <typename T>
void context_parallel_slice(const T* full, T* local, std::int64_t batch, std::int64_t seq, std::int64_t width, int cp,
                            int rank) {
  const std::int64_t chunk = seq / (2 * cp), local_seq = seq / cp;
  for (std::int64_t b = 0; b < batch; ++b)
    for (int half = 0; half < 2; ++half) {
      const std::int64_t index = half == 0 ? rank : 2 * cp - 1 - rank;
      const T* src = full + (b * seq + index * chunk) * width;
      T* dst = local + (b * local_seq + half * chunk) * width;
      for (std::int64_t i = 0; i < chunk * width; ++i) dst[i] = src[i];
    }
}

}  // namespace primus::parallel
