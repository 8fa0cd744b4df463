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
//   k, dk      [batch, seq, groups, head_dim]   element (b,s,g,d) at ((b*seq + s)*ld_kv + g*head_dim + d)
//   v, dv      [batch, seq, groups, v_head_dim] token stride ld_v (default ld_kv)
//   out, dout  [batch, seq, heads,  v_head_dim] token stride ld_o
//   lse        [batch, heads, seq]              natural-log logsumexp of each query's scaled scores
// Query head h attends with kv group h / (heads/groups) (Megatron's GQA grouping).
// Scores are scaled by softmax_scale (default 1/sqrt(head_dim)); query i attends to keys j <= i
// (causal, the default) or to every key (causal = false).
// v_head_dim may differ from head_dim (DeepSeek MLA); both must be multiples of 16.
//
// Forward saves only `out` and `lse`. Backward recomputes scores per tile in two passes that
// each own their outputs (no atomics, no per-thread gradient copies, deterministic for any
// thread count): pass 1 over (b, head, query tile) produces dq; pass 2 over (b, group, key tile)
// produces dk and dv, looping over the group's heads and the query tiles at or after the key tile.
//
// Workspace: attention_*_workspace(shape, threads) floats, caller-owned, with P(h, d) = the size
// of a tile-packed transposed operand = batch * h * ceil(seq/64) * 64 * d, dk = head_dim,
// dv = v_head_dim:
//   forward:  P(groups, dk) + threads * (64*dk + 64*dv + 4224)
//   backward: P(groups, dk) + P(groups, dv) + P(heads, dk) + P(heads, dv) + batch*heads*seq
//             + threads * (128*dk + 128*dv + 8320)
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
  std::int64_t heads = 0;     // query heads
  std::int64_t groups = 0;    // key/value heads (heads % groups == 0)
  std::int64_t head_dim = 0;  // q/k head dim, multiple of 16
  // Token strides (elements between consecutive tokens); 0 = packed. ld_kv is k's stride and
  // also v's unless ld_v is set.
  std::int64_t ld_q = 0, ld_kv = 0, ld_o = 0;
  std::int64_t v_head_dim = 0;  // v/out head dim; 0 = head_dim (differs for MLA: 128 vs 192)
  float softmax_scale = 0.0f;   // 0 = 1/sqrt(head_dim); MLA passes its mscale-adjusted value
  std::int64_t ld_v = 0;
  // false: every query attends to every key (context parallelism's blocks of earlier chunks).
  bool causal = true;
  // Tokens between (b, s) and (b + 1, s) of every operand (0 = seq): a view of `seq` tokens
  // inside longer rows, e.g. one chunk of a context-parallel rank's two chunks.
  std::int64_t batch_tokens = 0;
  // lse / internal row stride between (b, h) and (b, h + 1) (0 = seq), for the same views.
  std::int64_t lse_stride = 0;

  std::int64_t v_dim() const { return v_head_dim ? v_head_dim : head_dim; }
  std::int64_t batch_token_stride() const { return batch_tokens ? batch_tokens : seq; }
  std::int64_t lse_row_stride() const { return lse_stride ? lse_stride : seq; }
  float scale() const;
  std::int64_t q_stride() const { return ld_q ? ld_q : heads * head_dim; }
  std::int64_t k_stride() const { return ld_kv ? ld_kv : groups * head_dim; }
  std::int64_t v_stride() const { return ld_v ? ld_v : ld_kv ? ld_kv : groups * v_dim(); }
  std::int64_t o_stride() const { return ld_o ? ld_o : heads * v_dim(); }
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
