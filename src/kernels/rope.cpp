#include "kernels/rope.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace primus::kernels {

std::int64_t RopeConfig::rot_dim() const {
  if (head_dim <= 0) fail("rope: head_dim must be positive, got {}", head_dim);
  if (!(rotary_percent > 0.0f && rotary_percent <= 1.0f))
    fail("rope: rotary_percent must be in (0, 1], got {}", rotary_percent);
  const auto r = static_cast<std::int64_t>(static_cast<double>(head_dim) * rotary_percent);
  if (r <= 0 || r % 2 != 0)
    fail("rope: rotary dimension head_dim*rotary_percent = {} must be a positive even number", r);
  return r;
}

void rope_inv_freq(const RopeConfig& cfg, float* inv_freq) {
  const std::int64_t rot = cfg.rot_dim(), half = rot / 2;
  for (std::int64_t i = 0; i < half; ++i) {
    // fp32 like PyTorch: base ** (arange(0, rot, 2).float() / rot).
    const float expo = static_cast<float>(2 * i) / static_cast<float>(rot);
    float f = 1.0f / std::pow(cfg.base, expo);
    if (cfg.llama3_scaling) {
      if (!(cfg.high_freq_factor > cfg.low_freq_factor))
        fail("rope: high_freq_factor ({}) must exceed low_freq_factor ({})", cfg.high_freq_factor,
             cfg.low_freq_factor);
      const float low_wavelen = cfg.original_max_positions / cfg.low_freq_factor;
      const float high_wavelen = cfg.original_max_positions / cfg.high_freq_factor;
      const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
      if (wavelen > low_wavelen) {
        f = f / cfg.scaling_factor;  // low frequencies: fully interpolated
      } else if (wavelen >= high_wavelen) {
        // Medium band: blend between interpolated and original frequency.
        const float smooth = (cfg.original_max_positions / wavelen - cfg.low_freq_factor) /
                             (cfg.high_freq_factor - cfg.low_freq_factor);
        f = (1.0f - smooth) * f / cfg.scaling_factor + smooth * f;
      }
    }
    inv_freq[i] = f;
  }
}

std::size_t rope_table_size(const RopeConfig& cfg, std::int64_t seq_len) {
  return static_cast<std::size_t>(seq_len * cfg.rot_dim());
}

void rope_tables(const RopeConfig& cfg, std::int64_t seq_len, float* cos_sin) {
  const std::int64_t half = cfg.rot_dim() / 2;
  if (cfg.seq_len_interpolation_factor <= 0.0f)
    fail("rope: seq_len_interpolation_factor must be positive");
  float inv_freq[4096];
  if (half > 4096) fail("rope: rotary dimension {} too large", 2 * half);
  rope_inv_freq(cfg, inv_freq);
  float* cos_t = cos_sin;
  float* sin_t = cos_sin + seq_len * half;
  for (std::int64_t s = 0; s < seq_len; ++s) {
    const float pos = static_cast<float>(s) / cfg.seq_len_interpolation_factor;
    for (std::int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq[i];  // fp32 product, as torch.outer in fp32
      cos_t[s * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_t[s * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

namespace {
template <bool Inverse>
void rope_apply(float* x, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                std::int64_t table_seq) {
  const std::int64_t half = cfg.rot_dim() / 2;
  if (seq > table_seq) fail("rope: sequence length {} exceeds the table's {}", seq, table_seq);
  if (ld < heads * cfg.head_dim) fail("rope: token stride {} < heads*head_dim", ld);
  const float* cos_t = cos_sin;
  const float* sin_t = cos_sin + table_seq * half;
  // Inverse rotation = rotation by -angle: flip the sign of sin.
  const float sign = Inverse ? -1.0f : 1.0f;
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t s = 0; s < seq; ++s) {
      const float* c = cos_t + s * half;
      const float* sn = sin_t + s * half;
      float* tok = x + (b * seq + s) * ld;
      for (std::int64_t h = 0; h < heads; ++h) {
        float* x1 = tok + h * cfg.head_dim;
        float* x2 = x1 + half;
#pragma omp simd
        for (std::int64_t i = 0; i < half; ++i) {
          const float a = x1[i], bb = x2[i], si = sign * sn[i];
          x1[i] = a * c[i] - bb * si;
          x2[i] = bb * c[i] + a * si;
        }
      }
    }
}
}  // namespace

void rope_forward(float* x, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                  std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                  std::int64_t table_seq) {
  rope_apply<false>(x, cos_sin, batch, seq, heads, ld, cfg, table_seq);
}

void rope_backward(float* dx, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                   std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                   std::int64_t table_seq) {
  rope_apply<true>(dx, cos_sin, batch, seq, heads, ld, cfg, table_seq);
}

}  // namespace primus::kernels
