// Causal self-attention with grouped-query heads (MHA when groups == heads, MQA when groups == 1),
// computed tile by tile with an online softmax (flash-attention style).
//
// oneDNN has no fused flash-attention for CPU training, and a plain softmax(QK^T)V would need
// an [s x s] score matrix per head, so this is hand-written: 64x64 tiles, register-blocked
// vector micro-kernels (16-lane FMAs, 4 rows x 64 columns of accumulators), OpenMP over
// independent work items. Memory is linear in the sequence length: no [s x s] buffer exists.
//
// Layout (Megatron's [b, s, heads, d] after the QKV split; token strides let q/k/v point into a
// fused QKV buffer without copies):
//   q, dq      [batch, seq, heads,  head_dim]   element (b,s,h,d) at ((b*seq + s)*ld_q  + h*head_dim + d)
//   k, v, dk, dv [batch, seq, groups, head_dim] element (b,s,g,d) at ((b*seq + s)*ld_kv + g*head_dim + d)
//   out, dout  [batch, seq, heads,  head_dim]   token stride ld_o
//   lse        [batch, heads, seq]              natural-log logsumexp of each query's scaled scores
// Query head h attends with kv group h / (heads/groups) (Megatron's GQA grouping).
// Scores are scaled by 1/sqrt(head_dim); query i attends to keys j <= i.
//
// Forward saves only `out` and `lse`. Backward recomputes scores per tile in two passes that
// each own their outputs (no atomics, no per-thread gradient copies, deterministic for any
// thread count): pass 1 over (b, head, query tile) produces dq; pass 2 over (b, group, key tile)
// produces dk and dv, looping over the group's heads and the query tiles at or after the key tile.
//
// Workspace: attention_*_workspace(shape, threads) floats, caller-owned, with P = the size of a
// tile-packed transposed operand, P(h) = batch * h * ceil(seq/64) * 64 * head_dim:
//   forward:  P(groups)                                   + threads * (128*head_dim + 4224)
//   backward: 2*P(groups) + 2*P(heads) + batch*heads*seq  + threads * (256*head_dim + 8320)
// i.e. per-thread tiles independent of seq plus copies of k (and v, q, dout) transposed per
// tile, packed once per call so the score micro-kernel streams contiguous memory. All terms
// are linear in seq. The kernels use as many threads (<= num_threads()) as the workspace holds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

inline constexpr std::int64_t kAttnTile = 64;

struct AttentionShape {
  std::int64_t batch = 0, seq = 0;
  std::int64_t heads = 0;   // query heads
  std::int64_t groups = 0;  // key/value heads (heads % groups == 0)
  std::int64_t head_dim = 0;  // multiple of 16
  std::int64_t ld_q = 0, ld_kv = 0, ld_o = 0;  // token strides; 0 = packed

  std::int64_t q_stride() const { return ld_q ? ld_q : heads * head_dim; }
  std::int64_t kv_stride() const { return ld_kv ? ld_kv : groups * head_dim; }
  std::int64_t o_stride() const { return ld_o ? ld_o : heads * head_dim; }
  // Throws primus::Error with the offending value when the shape is unsupported.
  void validate() const;
};

std::size_t attention_forward_workspace(const AttentionShape& shape, int threads);
std::size_t attention_backward_workspace(const AttentionShape& shape, int threads);

// q, k, v -> out, lse. workspace: at least attention_forward_workspace(shape, 1) floats.
void attention_forward(const AttentionShape& shape, const float* q, const float* k,
                       const float* v, float* out, float* lse, float* workspace,
                       std::size_t workspace_floats);

// dout (+ forward's q, k, v, out, lse) -> dq, dk, dv (overwritten, same strides as q, k, v;
// they must not alias any input: pass 2 still reads q after pass 1 has written dq).
// workspace: at least attention_backward_workspace(shape, 1) floats.
void attention_backward(const AttentionShape& shape, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const float* dout,
                        float* dq, float* dk, float* dv, float* workspace,
                        std::size_t workspace_floats);

}  // namespace primus::kernels
