#include "kernels/rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace primus::kernels {

std::int64_t RopeConfig::rot_dim() const {
  if (head_dim <= 0) fail("rope: head_dim must be positive, got {}", head_dim);
  if (rotary_dim > 0) {
    if (rotary_dim % 2 != 0 || rotary_dim > head_dim)
      fail("rope: rotary dimension {} must be even and at most the head dimension {}", rotary_dim, head_dim);
    return rotary_dim;
  }
  if (!(rotary_percent > 0.0f && rotary_percent <= 1.0f))
    fail("rope: rotary_percent must be in (0, 1], got {}", rotary_percent);
  const auto r = static_cast<std::int64_t>(static_cast<double>(head_dim) * rotary_percent);
  if (r <= 0 || r % 2 != 0)
    fail("rope: rotary dimension head_dim*rotary_percent = {} must be a positive even number", r);
  return r;
}

namespace {

// YaRN's mscale: 0.1 · m · ln(factor) + 1 for factor > 1, else 1.
double yarn_get_mscale(double factor, double m) { return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; }

// The (fractional) dimension whose wavelength makes `rotations` turns over the original context.
double yarn_correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

}  // namespace

float RopeConfig::cos_sin_scale() const {
  if (!yarn) return 1.0f;
  return static_cast<float>(yarn_get_mscale(yarn_factor, mscale) / yarn_get_mscale(yarn_factor, mscale_all_dim));
}

void rope_inv_freq(const RopeConfig& cfg, float* inv_freq) {
  const std::int64_t rot = cfg.rot_dim(), half = rot / 2;
  if (cfg.yarn) {
    if (!(cfg.yarn_factor > 0.0f)) fail("rope: YaRN rotary_scaling_factor must be positive, got {}", cfg.yarn_factor);
    const double d = static_cast<double>(rot);
    double low = std::floor(yarn_correction_dim(cfg.beta_fast, d, cfg.base, cfg.original_max_positions));
    double high = std::ceil(yarn_correction_dim(cfg.beta_slow, d, cfg.base, cfg.original_max_positions));
    low = std::max(low, 0.0);
    high = std::min(high, d - 1.0);
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (std::int64_t i = 0; i < half; ++i) {
      const float expo = static_cast<float>(2 * i) / static_cast<float>(rot);
      const float extra = 1.0f / std::pow(cfg.base, expo);
      const float inter = 1.0f / (cfg.yarn_factor * std::pow(cfg.base, expo));
      const float ramp = static_cast<float>(std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0));
      inv_freq[i] = inter * ramp + extra * (1.0f - ramp);
    }
    return;
  }
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
  const float scale = cfg.cos_sin_scale();
  float* cos_t = cos_sin;
  float* sin_t = cos_sin + seq_len * half;
  for (std::int64_t s = 0; s < seq_len; ++s) {
    const float pos = static_cast<float>(s) / cfg.seq_len_interpolation_factor;
    for (std::int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq[i];  // fp32 product, as torch.outer in fp32
      cos_t[s * half + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * scale;
      sin_t[s * half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * scale;
    }
  }
}

namespace {
template <bool Inverse>
void rope_apply(float* x, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                std::int64_t table_seq, const std::int32_t* positions) {
  const std::int64_t half = cfg.rot_dim() / 2;
  if (!positions && seq > table_seq) fail("rope: sequence length {} exceeds the table's {}", seq, table_seq);
  if (positions)
    for (std::int64_t s = 0; s < seq; ++s)
      if (positions[s] < 0 || positions[s] >= table_seq)
        fail("rope: position {} outside the table's {}", positions[s], table_seq);
  if (ld < heads * cfg.head_dim) fail("rope: token stride {} < heads*head_dim", ld);
  const float* cos_t = cos_sin;
  const float* sin_t = cos_sin + table_seq * half;
  // Inverse rotation = rotation by -angle: flip the sign of sin.
  const float sign = Inverse ? -1.0f : 1.0f;
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t s = 0; s < seq; ++s) {
      const std::int64_t p = positions ? positions[s] : s;
      const float* c = cos_t + p * half;
      const float* sn = sin_t + p * half;
      float* tok = x + (b * seq + s) * ld;
      for (std::int64_t h = 0; h < heads; ++h) {
        float* xh = tok + h * cfg.head_dim;
        if (cfg.interleaved) {
          for (std::int64_t i = 0; i < half; ++i) {
            const float a = xh[2 * i], bb = xh[2 * i + 1], si = sign * sn[i];
            xh[2 * i] = a * c[i] - bb * si;
            xh[2 * i + 1] = bb * c[i] + a * si;
          }
          continue;
        }
        float* x1 = xh;
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
                  std::int64_t table_seq, const std::int32_t* positions) {
  rope_apply<false>(x, cos_sin, batch, seq, heads, ld, cfg, table_seq, positions);
}

void rope_backward(float* dx, const float* cos_sin, std::int64_t batch, std::int64_t seq,
                   std::int64_t heads, std::int64_t ld, const RopeConfig& cfg,
                   std::int64_t table_seq, const std::int32_t* positions) {
  rope_apply<true>(dx, cos_sin, batch, seq, heads, ld, cfg, table_seq, positions);
}

}  // namespace primus::kernels
