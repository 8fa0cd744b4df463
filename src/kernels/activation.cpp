#include "kernels/activation.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "kernels/simd.hpp"

namespace primus::kernels {

namespace {
using simd::v16;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;

// sigmoid(x) = 1 / (1 + e^-x), vectorised.
inline v16 sigmoid(v16 x) { return 1.0f / (1.0f + simd::exp(-x)); }

void swiglu_rows(const float* in, float* out, std::int64_t ffn) {
  const float* g = in;
  const float* u = in + ffn;
  std::int64_t j = 0;
  for (; j + simd::kLanes <= ffn; j += simd::kLanes) {
    const v16 gv = simd::load(g + j);
    simd::store(out + j, gv * sigmoid(gv) * simd::load(u + j));
  }
  for (; j < ffn; ++j) out[j] = g[j] / (1.0f + simd::exp(-g[j])) * u[j];
}
}  // namespace

void swiglu_forward(const float* in, float* out, std::int64_t rows, std::int64_t ffn) {
  if (ffn <= 0) fail("swiglu: ffn size must be positive, got {}", ffn);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) swiglu_rows(in + r * 2 * ffn, out + r * ffn, ffn);
}

void swiglu_backward(const float* dout, const float* in, float* din, std::int64_t rows,
                     std::int64_t ffn) {
  if (ffn <= 0) fail("swiglu: ffn size must be positive, got {}", ffn);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* g = in + r * 2 * ffn;
    const float* u = g + ffn;
    const float* d = dout + r * ffn;
    float* dg = din + r * 2 * ffn;
    float* du = dg + ffn;
    // silu'(g) = s * (1 + g * (1 - s)), s = sigmoid(g).
    std::int64_t j = 0;
    for (; j + simd::kLanes <= ffn; j += simd::kLanes) {
      const v16 gv = simd::load(g + j), uv = simd::load(u + j), dv = simd::load(d + j);
      const v16 s = sigmoid(gv);
      simd::store(dg + j, dv * uv * s * (1.0f + gv * (1.0f - s)));
      simd::store(du + j, dv * gv * s);
    }
    for (; j < ffn; ++j) {
      const float gj = g[j], uj = u[j], dj = d[j];
      const float s = 1.0f / (1.0f + simd::exp(-gj));
      dg[j] = dj * uj * s * (1.0f + gj * (1.0f - s));
      du[j] = dj * gj * s;
    }
  }
}

namespace {

// erf(x) for 16 lanes: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd extension.
inline v16 erf16(v16 x) {
  const v16 ax = x < 0.0f ? -x : x;
  const v16 t = 1.0f / (1.0f + 0.3275911f * ax);
  v16 poly = simd::splat(1.061405429f);
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const v16 r = 1.0f - poly * t * simd::exp(-ax * ax);
  return x < 0.0f ? -r : r;
}

// tanh(u) = 1 - 2 / (e^{2u} + 1): saturates correctly (e^{2u} -> inf gives 1, -> 0 gives -1).
inline v16 tanh16(v16 u) { return 1.0f - 2.0f / (simd::exp(2.0f * u) + 1.0f); }

inline v16 gelu16(v16 v, GeluKind kind) {
  if (kind == GeluKind::Erf) return 0.5f * v * (1.0f + erf16(v * kInvSqrt2));
  return 0.5f * v * (1.0f + tanh16(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
}

inline v16 gelu_grad16(v16 v, GeluKind kind) {
  if (kind == GeluKind::Erf) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x).
    const v16 cdf = 0.5f * (1.0f + erf16(v * kInvSqrt2));
    const v16 pdf = kInvSqrt2Pi * simd::exp(-0.5f * v * v);
    return cdf + v * pdf;
  }
  const v16 t = tanh16(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v));
  const v16 dinner = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v);
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner;
}

// Applies f to 16-lane blocks of [0, n) in parallel; the tail goes through a zero-padded
// vector so that every element takes the same arithmetic path.
template <typename F>
void map16(std::int64_t n, F&& f) {
  const std::int64_t blocks = (n + simd::kLanes - 1) / simd::kLanes;
#pragma omp parallel for schedule(static) if (n >= (1 << 14))
  for (std::int64_t b = 0; b < blocks; ++b) f(b * simd::kLanes, std::min<std::int64_t>(simd::kLanes, n - b * simd::kLanes));
}

inline v16 load_partial(const float* p, std::int64_t len) {
  if (len == simd::kLanes) return simd::load(p);
  v16 v{};
  for (std::int64_t i = 0; i < len; ++i) v[i] = p[i];
  return v;
}
inline void store_partial(float* p, v16 v, std::int64_t len) {
  if (len == simd::kLanes) return simd::store(p, v);
  for (std::int64_t i = 0; i < len; ++i) p[i] = v[i];
}

}  // namespace

void gelu_forward(const float* x, float* y, std::int64_t n, GeluKind kind) {
  map16(n, [&](std::int64_t i, std::int64_t len) {
    store_partial(y + i, gelu16(load_partial(x + i, len), kind), len);
  });
}

void gelu_backward(const float* dy, const float* x, float* dx, std::int64_t n, GeluKind kind) {
  map16(n, [&](std::int64_t i, std::int64_t len) {
    const v16 g = load_partial(dy + i, len) * gelu_grad16(load_partial(x + i, len), kind);
    store_partial(dx + i, g, len);
  });
}

}  // namespace primus::kernels
