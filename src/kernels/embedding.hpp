// Token embedding lookup (Megatron's VocabParallelEmbedding on one rank). Hand-written: a gather
// and a deterministic scatter-add.
#pragma once

#include <cstdint>

namespace primus::kernels {

// ids [tokens] (each in [0, vocab)), table [vocab, hidden] -> out [tokens, hidden].
// Throws primus::Error on an out-of-range id.
void embedding_forward(const std::int32_t* ids, const float* table, float* out,
                       std::int64_t tokens, std::int64_t vocab, std::int64_t hidden);

// dtable[ids[t], :] += dout[t, :] for every t (ACCUMULATES into dtable [vocab, hidden]).
// Parallel over hidden-column blocks, tokens in order: deterministic for any thread count.
void embedding_backward(const std::int32_t* ids, const float* dout, float* dtable,
                        std::int64_t tokens, std::int64_t vocab, std::int64_t hidden);

// Vocabulary-parallel shard (Megatron's VocabParallelEmbedding): the table holds rows
// [first_row, first_row + rows) of the vocabulary; tokens outside it give zero rows (the group's
// sum completes the lookup) and no gradient.
void embedding_forward_shard(const std::int32_t* ids, const float* table, float* out, std::int64_t tokens,
                             std::int64_t vocab, std::int64_t first_row, std::int64_t rows, std::int64_t hidden);
void embedding_backward_shard(const std::int32_t* ids, const float* dout, float* dtable, std::int64_t tokens,
                              std::int64_t vocab, std::int64_t first_row, std::int64_t rows, std::int64_t hidden);

}  // namespace primus::kernels
