// Rotary position embeddings as Megatron/HF apply them (non-interleaved "rotate_half" layout):
// the first rot_dim = head_dim * rotary_percent channels of each head are split in halves
// x1 = x[:rot/2], x2 = x[rot/2:rot] and rotated by angle pos * inv_freq[i]:
//     y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin;   channels >= rot_dim pass through.
// inv_freq[i] = 1 / base^(2i / rot_dim), optionally rescaled for Llama 3.1 (--use-rope-scaling):
// wavelengths longer than original_max_positions/low_freq_factor are divided by `factor`,
// shorter than .../high_freq_factor kept, and those between blended smoothly.
// Positions may be divided by seq_len_interpolation_factor (--rotary-seq-len-interpolation-factor).
// Hand-written: a cheap element-wise pass over q/k in place; tables are computed once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

struct RopeConfig {
  std::int64_t head_dim = 0;
  float rotary_percent = 1.0f;   // rot_dim = head_dim * rotary_percent (must be even)
  float base = 10000.0f;         // --rotary-base
  float seq_len_interpolation_factor = 1.0f;
  bool llama3_scaling = false;   // --use-rope-scaling
  float scaling_factor = 8.0f;   // --rope-scaling-factor
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  float original_max_positions = 8192.0f;

  // head_dim * rotary_percent, validated (even, > 0, <= head_dim); throws primus::Error.
  std::int64_t rot_dim() const;
  bool operator==(const RopeConfig&) const = default;
};

// inv_freq [rot_dim/2] after optional Llama-3.1 scaling.
void rope_inv_freq(const RopeConfig& cfg, float* inv_freq);

// Floats rope_tables writes: 2 * seq_len * rot_dim/2 (cos then sin).
std::size_t rope_table_size(const RopeConfig& cfg, std::int64_t seq_len);
// cos_sin: cos [seq_len, rot_dim/2] followed by sin [seq_len, rot_dim/2], positions 0..seq_len-1.
void rope_tables(const RopeConfig& cfg, std::int64_t seq_len, float* cos_sin);

// x [batch, seq, heads, head_dim] with token stride ld (elements between (b,s) and (b,s+1);
// ld = heads*head_dim when packed), rotated in place. cos_sin from rope_tables for >= seq.
void rope_forward(float* x, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                  std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                  std::int64_t table_seq);
// The inverse rotation applied to the gradient dy (same layout), in place: dx = R^T dy.
void rope_backward(float* dx, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                   std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                   std::int64_t table_seq);

}  // namespace primus::kernels
