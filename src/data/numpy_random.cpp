#include "data/numpy_random.hpp"

namespace primus::data {

NumpyRandomState::NumpyRandomState(std::uint32_t seed) {
  // Knuth's linear initialisation of the 624-word state (MT19937 init_genrand).
  state_[0] = seed;
  for (std::uint32_t i = 1; i < 624; ++i) {
    const std::uint32_t prev = state_[i - 1];
    state_[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
  }
  position_ = 624;
}

void NumpyRandomState::twist() {
  constexpr std::uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  for (int i = 0; i < 624; ++i) {
    const std::uint32_t y = (state_[i] & kUpper) | (state_[(i + 1) % 624] & kLower);
    std::uint32_t v = state_[(i + 397) % 624] ^ (y >> 1);
    if (y & 1u) v ^= kMatrix;
    state_[i] = v;
  }
  position_ = 0;
}

std::uint32_t NumpyRandomState::next_uint32() {
  if (position_ >= 624) twist();
  std::uint32_t y = state_[position_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

std::uint64_t NumpyRandomState::next_uint64() {
  const std::uint64_t hi = next_uint32();
  const std::uint64_t lo = next_uint32();
  return (hi << 32) | lo;
}

std::uint64_t NumpyRandomState::random_interval(std::uint64_t max) {
  if (max == 0) return 0;
  std::uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  std::uint64_t value;
  if (max <= 0xffffffffull) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (next_uint64() & mask)) > max) {
    }
  }
  return value;
}

}  // namespace primus::data
