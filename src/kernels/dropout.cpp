#include "kernels/dropout.hpp"

#include "core/error.hpp"

namespace primus::kernels {

DropoutState dropout_reserve(Rng& rng, std::int64_t n) {
  DropoutState st{rng.seed(), rng.stream(), rng.offset()};
  rng.set_offset(rng.offset() + static_cast<std::uint64_t>((n + 3) / 4));
  return st;
}

void dropout_forward(const float* x, float* y, std::int64_t n, float p, const DropoutState& st) {
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout probability must be in [0, 1), got {}", p);
  if (p == 0.0f) {
    if (y != x)
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i];
    return;
  }
  // keep iff the 32-bit random word >= p * 2^32.
  const auto threshold = static_cast<std::uint64_t>(static_cast<double>(p) * 4294967296.0);
  const float inv_keep = 1.0f / (1.0f - p);
  const std::int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::uint64_t ctr = st.offset + static_cast<std::uint64_t>(b);
    const auto r = philox4x32({static_cast<std::uint32_t>(ctr), static_cast<std::uint32_t>(ctr >> 32),
                               static_cast<std::uint32_t>(st.stream),
                               static_cast<std::uint32_t>(st.stream >> 32)},
                              {static_cast<std::uint32_t>(st.seed),
                               static_cast<std::uint32_t>(st.seed >> 32)});
    for (std::int64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const std::int64_t i = 4 * b + j;
      y[i] = r[j] >= threshold ? x[i] * inv_keep : 0.0f;
    }
  }
}

void dropout_backward(const float* dy, float* dx, std::int64_t n, float p,
                      const DropoutState& st) {
  // The gradient of inverted dropout is the same masked scaling.
  dropout_forward(dy, dx, n, p, st);
}

}  // namespace primus::kernels
