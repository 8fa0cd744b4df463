// Megatron-Core's fused QKV rows are interleaved per query group — for group j: its heads/groups
// query heads (each head_dim rows), then its key, then its value — while this engine stores
// [all q; all k; all v] (see parameter_layout.hpp). These convert a weight [rows, cols] or a bias
// (cols = 1) between the two orders.
#pragma once

#include <cstdint>

namespace primus::model {

struct QkvShape {
  std::int64_t heads, groups, head_dim, cols;  // cols: input features (1 for a bias)
};

// src in Megatron's interleaved order -> dst in split order (src and dst must not overlap).
void qkv_interleaved_to_split(const float* src, float* dst, const QkvShape& s);
// The inverse.
void qkv_split_to_interleaved(const float* src, float* dst, const QkvShape& s);

}  // namespace primus::model
