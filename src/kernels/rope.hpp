// Rotary position embeddings as Megatron/HF apply them (non-interleaved "rotate_half" layout):
// the first rot_dim = head_dim * rotary_percent channels of each head are split in halves
// x1 = x[:rot/2], x2 = x[rot/2:rot] and rotated by angle pos * inv_freq[i]:
//     y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin;   channels >= rot_dim pass through.
// inv_freq[i] = 1 / base^(2i / rot_dim), optionally rescaled for Llama 3.1 (--use-rope-scaling):
// wavelengths longer than original_max_positions/low_freq_factor are divided by `factor`,
// shorter than .../high_freq_factor kept, and those between blended smoothly.
// Positions may be divided by seq_len_interpolation_factor (--rotary-seq-len-interpolation-factor).
// YaRN (DeepSeek V2/V3, --rope-type yarn): inv_freq blends interpolated (÷ factor) and original
// frequencies with a linear ramp between the correction dimensions of beta_fast and beta_slow,
// and cos/sin are multiplied by mscale(factor, mscale) / mscale(factor, mscale_all_dim).
// Interleaved pairs (MLA: Megatron de-interleaves the rotary slice before rotate_half, which is
// the rotation of pairs (x[2i], x[2i+1]) by angle i, up to a permutation of channels that q and
// k share, so q·k is the same): y[2i] = x[2i] cos - x[2i+1] sin, y[2i+1] = x[2i+1] cos + x[2i] sin.
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
  float original_max_positions = 8192.0f;  // Llama 3.1 and YaRN
  std::int64_t rotary_dim = 0;   // explicit rotated channels (0: head_dim * rotary_percent)
  bool interleaved = false;      // rotate pairs (2i, 2i+1) instead of halves
  bool yarn = false;
  float yarn_factor = 1.0f;      // --rotary-scaling-factor
  float beta_fast = 32.0f, beta_slow = 1.0f;
  float mscale = 1.0f, mscale_all_dim = 0.0f;

  // rotary_dim or head_dim * rotary_percent, validated (even, > 0, <= head_dim); throws primus::Error.
  std::int64_t rot_dim() const;
  // The factor YaRN puts on cos and sin (1 without YaRN).
  float cos_sin_scale() const;
  bool operator==(const RopeConfig&) const = default;
};

// inv_freq [rot_dim/2] after optional Llama-3.1 scaling.
void rope_inv_freq(const RopeConfig& cfg, float* inv_freq);

// Floats rope_tables writes: 2 * seq_len * rot_dim/2 (cos then sin).
std::size_t rope_table_size(const RopeConfig& cfg, std::int64_t seq_len);
// cos_sin: cos [seq_len, rot_dim/2] followed by sin [seq_len, rot_dim/2], positions 0..seq_len-1.
void rope_tables(const RopeConfig& cfg, std::int64_t seq_len, float* cos_sin);

// x [batch, seq, heads, head_dim] with token stride ld (elements between (b,s) and (b,s+1);
// ld = heads*head_dim when packed), rotated in place; the first rot_dim channels of each head
// rotate. cos_sin from rope_tables for >= the largest position. positions (optional) [seq]: the
// position of each local sequence index (context parallelism holds non-contiguous chunks);
// nullptr: 0..seq-1.
void rope_forward(float* x, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                  std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                  std::int64_t table_seq, const std::int32_t* positions = nullptr);
// The transpose of the rotation applied to the gradient dy (same layout), in place: dx = R^T dy
// (with YaRN's cos/sin scale this is not the inverse, and is what backward needs).
void rope_backward(float* dx, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                   std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                   std::int64_t table_seq, const std::int32_t* positions = nullptr);

}  // namespace primus::kernels
