// Causal attention of a few new queries against a key/value cache (autoregressive decoding with
// a KV cache): query i sits at position first + i and attends to cached positions 0..first + i.
// The training kernel (attention.hpp) takes equal query and key lengths; decoding has n new
// queries (the prompt, then one token per step) over first + n keys.
//
// Layout (token-major, like attention.hpp):
//   q    [n, heads, head_dim]          token stride ld_q (0: heads * head_dim)
//   k    [first + n, groups, head_dim] the cache, token stride groups * head_dim
//   v    [first + n, groups, v_dim]    token stride groups * v_dim
//   out  [n, heads, v_dim]             packed
// Query head h uses key/value group h / (heads / groups). Scores are scaled by softmax_scale
// (0: 1/sqrt(head_dim)). Work items (query, head) run in parallel, each with its own row of
// scores (workspace: threads * (first + n) floats, from attention_decode_workspace), a max-
// subtracted softmax and fp32 accumulation — deterministic for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

struct AttentionDecodeShape {
  std::int64_t queries = 0;   // n new tokens
  std::int64_t first = 0;     // position of the first new token (= cached tokens before them)
  std::int64_t heads = 0, groups = 0;
  std::int64_t head_dim = 0, v_dim = 0;  // v_dim 0: head_dim
  std::int64_t ld_q = 0;
  float softmax_scale = 0.0f;
  std::int64_t keys() const { return first + queries; }
  void validate() const;
};

std::size_t attention_decode_workspace(const AttentionDecodeShape& shape, int threads);

void attention_decode(const AttentionDecodeShape& shape, const float* q, const float* k, const float* v, float* out,
                      float* workspace, std::size_t workspace_floats);

}  // namespace primus::kernels
