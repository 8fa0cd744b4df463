// Deterministic parameter-gradient reductions (norm weights, biases): rows are split into a
// FIXED number of chunks (not one per thread), each chunk sums into its own slice of a
// caller-provided workspace, and the slices are added in chunk order. The result is therefore
// bit-identical whatever the thread count, with no atomics and one pass over the activations.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace primus::kernels {

inline constexpr std::int64_t kRowChunks = 32;

// Floats of workspace a chunked column reduction over `cols` columns needs.
inline std::size_t row_chunk_workspace(std::int64_t cols) {
  return static_cast<std::size_t>(kRowChunks * cols);
}

// Row range of chunk `c` out of kRowChunks for `rows` rows.
inline std::int64_t chunk_begin(std::int64_t rows, std::int64_t c) { return rows * c / kRowChunks; }

// dst[j] += sum_c partial[c*cols + j] (c in order), parallel over columns.
void reduce_row_chunks(const float* partial, std::int64_t cols, float* dst);

}  // namespace primus::kernels
