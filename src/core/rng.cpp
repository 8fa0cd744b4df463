#include "core/rng.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace primus {

namespace {
constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
constexpr std::size_t kParallelMin = 1 << 15;

inline void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

// 24 random bits -> (0, 1]: never 0, so log() in Box-Muller is finite.
inline double open_unit(std::uint32_t u) { return ((u >> 8) + 1.0) * (1.0 / 16777216.0); }
inline double half_open_unit(std::uint32_t u) { return (u >> 8) * (1.0 / 16777216.0); }
}  // namespace

std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> c,
                                        std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c[0], hi0, lo0);
    mulhilo(kM1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

std::array<std::uint32_t, 4> Rng::block(std::uint64_t index) const {
  return philox4x32({static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                     static_cast<std::uint32_t>(stream_), static_cast<std::uint32_t>(stream_ >> 32)},
                    {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
}

void Rng::fill_normal(float* dst, std::size_t n, float mean, float std) {
  const std::size_t blocks = (n + 3) / 4;
  const std::uint64_t base = offset_;
  offset_ += blocks;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto r = block(base + b);
    double z[4];
    for (int pair = 0; pair < 2; ++pair) {
      const double radius = std::sqrt(-2.0 * std::log(open_unit(r[2 * pair])));
      const double angle = 2.0 * std::numbers::pi * half_open_unit(r[2 * pair + 1]);
      z[2 * pair] = radius * std::cos(angle);
      z[2 * pair + 1] = radius * std::sin(angle);
    }
    for (std::size_t j = 0; j < 4 && 4 * b + j < n; ++j)
      dst[4 * b + j] = static_cast<float>(mean + std * z[j]);
  }
}

void Rng::fill_normal_at(float* dst, std::uint64_t first, std::size_t n, float mean, float std) const {
  // Normal number i is lane i % 4 of block i / 4, as fill_normal lays them out from offset 0.
  const std::uint64_t first_block = first / 4, last_block = (first + n + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::uint64_t b = first_block; b < last_block; ++b) {
    const auto r = block(b);
    for (int pair = 0; pair < 2; ++pair) {
      const double radius = std::sqrt(-2.0 * std::log(open_unit(r[2 * pair])));
      const double angle = 2.0 * std::numbers::pi * half_open_unit(r[2 * pair + 1]);
      const double z[2] = {radius * std::cos(angle), radius * std::sin(angle)};
      for (int k = 0; k < 2; ++k) {
        const std::uint64_t i = 4 * b + static_cast<std::uint64_t>(2 * pair + k);
        if (i >= first && i < first + n) dst[i - first] = static_cast<float>(mean + std * z[k]);
      }
    }
  }
}

void Rng::fill_uniform(float* dst, std::size_t n, float lo, float hi) {
  const std::size_t blocks = (n + 3) / 4;
  const std::uint64_t base = offset_;
  offset_ += blocks;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto r = block(base + b);
    for (std::size_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const float v = static_cast<float>(lo + (static_cast<double>(hi) - lo) * half_open_unit(r[j]));
      dst[4 * b + j] = v < hi ? v : lo;  // rounding to fp32 could reach hi; keep [lo, hi)
    }
  }
}

std::uint64_t Rng::next_u64() {
  const auto r = block(offset_++);
  return (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
}

float Rng::uniform() { return static_cast<float>(half_open_unit(block(offset_++)[0])); }

std::uint64_t Rng::below(std::uint64_t n) {
  if (n == 0) fail("internal: Rng::below(0)");
  // Rejection sampling: drop the top partial range so every residue is equally likely.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    const std::uint64_t x = next_u64();
    if (x < limit) return x % n;
  }
}

}  // namespace primus
