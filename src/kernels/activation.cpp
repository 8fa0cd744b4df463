#include "kernels/activation.hpp"

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

void gelu_forward(const float* x, float* y, std::int64_t n, GeluKind kind) {
  if (kind == GeluKind::Erf) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
  } else {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
    }
  }
}

void gelu_backward(const float* dy, const float* x, float* dx, std::int64_t n, GeluKind kind) {
  if (kind == GeluKind::Erf) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x).
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
      const float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
  } else {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float inner = kSqrt2OverPi * v * (1.0f + 0.044715f * v * v);
      const float t = std::tanh(inner);
      const float dinner = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v);
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
    }
  }
}

}  // namespace primus::kernels
