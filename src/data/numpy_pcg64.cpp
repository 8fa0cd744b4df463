#include "data/numpy_pcg64.hpp"

#include <array>
#include <limits>

namespace primus::data {
namespace {

constexpr std::uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u;
constexpr std::uint32_t kInitB = 0x8b51f9ddu, kMultB = 0x58f38dedu;
constexpr std::uint32_t kMixMultL = 0xca01f9ddu, kMixMultR = 0x4973f715u;
constexpr int kXShift = 16;
constexpr int kPoolSize = 4;

// SeedSequence(seed).generate_state(4, uint64) for a one-word entropy.
std::array<std::uint64_t, 4> seed_sequence_state(std::uint32_t seed) {
  std::uint32_t hash_const = kInitA;
  auto hashmix = [&](std::uint32_t value) {
    value ^= hash_const;
    hash_const *= kMultA;
    value *= hash_const;
    value ^= value >> kXShift;
    return value;
  };
  auto mix = [](std::uint32_t x, std::uint32_t y) {
    std::uint32_t r = kMixMultL * x - kMixMultR * y;
    r ^= r >> kXShift;
    return r;
  };
  std::array<std::uint32_t, kPoolSize> pool{};
  for (int i = 0; i < kPoolSize; ++i) pool[static_cast<std::size_t>(i)] = hashmix(i == 0 ? seed : 0u);
  for (int src = 0; src < kPoolSize; ++src) {
    for (int dst = 0; dst < kPoolSize; ++dst) {
      if (src != dst) {
        pool[static_cast<std::size_t>(dst)] =
            mix(pool[static_cast<std::size_t>(dst)], hashmix(pool[static_cast<std::size_t>(src)]));
      }
    }
  }
  std::uint32_t hb = kInitB;
  std::array<std::uint32_t, 8> words{};
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::uint32_t v = pool[i % kPoolSize];
    v ^= hb;
    hb *= kMultB;
    v *= hb;
    v ^= v >> kXShift;
    words[i] = v;
  }
  std::array<std::uint64_t, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    out[i] = static_cast<std::uint64_t>(words[2 * i]) | (static_cast<std::uint64_t>(words[2 * i + 1]) << 32);
  }
  return out;
}

const unsigned __int128 kMultiplier =
    (static_cast<unsigned __int128>(2549297995355413924ull) << 64) | 4865540595714422341ull;

}  // namespace

NumpyPcg64::NumpyPcg64(std::uint32_t seed) {
  const auto s = seed_sequence_state(seed);
  const unsigned __int128 initstate = (static_cast<unsigned __int128>(s[0]) << 64) | s[1];
  const unsigned __int128 initseq = (static_cast<unsigned __int128>(s[2]) << 64) | s[3];
  state_ = 0;
  inc_ = (initseq << 1) | 1;
  state_ = state_ * kMultiplier + inc_;
  state_ += initstate;
  state_ = state_ * kMultiplier + inc_;
}

std::uint64_t NumpyPcg64::next_uint64() {
  state_ = state_ * kMultiplier + inc_;
  const std::uint64_t folded = static_cast<std::uint64_t>(state_ >> 64) ^ static_cast<std::uint64_t>(state_);
  const unsigned rot = static_cast<unsigned>(state_ >> 122);
  return (folded >> rot) | (folded << ((64 - rot) & 63));
}

std::uint32_t NumpyPcg64::next_uint32() {
  if (has_uint32_) {
    has_uint32_ = false;
    return uinteger_;
  }
  const std::uint64_t v = next_uint64();
  has_uint32_ = true;
  uinteger_ = static_cast<std::uint32_t>(v >> 32);
  return static_cast<std::uint32_t>(v & 0xffffffffu);
}

std::int32_t NumpyPcg64::integers_int32(std::int32_t low, std::int32_t high) {
  const std::uint32_t rng = static_cast<std::uint32_t>(high - 1 - low);
  if (rng == 0) return low;
  if (rng == std::numeric_limits<std::uint32_t>::max()) return static_cast<std::int32_t>(low + static_cast<std::int64_t>(next_uint32()));
  const std::uint32_t excl = rng + 1;
  std::uint64_t m = static_cast<std::uint64_t>(next_uint32()) * excl;
  std::uint32_t leftover = static_cast<std::uint32_t>(m & 0xffffffffu);
  if (leftover < excl) {
    const std::uint32_t threshold = (std::numeric_limits<std::uint32_t>::max() - rng) % excl;
    while (leftover < threshold) {
      m = static_cast<std::uint64_t>(next_uint32()) * excl;
      leftover = static_cast<std::uint32_t>(m & 0xffffffffu);
    }
  }
  return static_cast<std::int32_t>(low + static_cast<std::int64_t>(m >> 32));
}

}  // namespace primus::data
