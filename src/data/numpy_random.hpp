// numpy's legacy RandomState (MT19937) as far as Megatron's index building uses it:
// RandomState(seed) with an integer seed, random 32/64-bit words, and shuffle() of a 1-D array.
// Hand-written from the published MT19937 algorithm (Matsumoto & Nishimura) and numpy's documented
// legacy behaviour, so that shuffled indices equal Megatron's bit for bit; verified against numpy's
// own output in tests/data/numpy_random_test.cpp (fixture from tools/reference/data/).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>

namespace primus::data {

class NumpyRandomState {
 public:
  // numpy.random.RandomState(seed) for 0 <= seed < 2^32.
  explicit NumpyRandomState(std::uint32_t seed);

  std::uint32_t next_uint32();
  // Two 32-bit words, the first one high (numpy's legacy 64-bit draw from MT19937).
  std::uint64_t next_uint64();
  // Uniform integer in [0, max] by masked rejection (numpy's legacy `random_interval`).
  std::uint64_t random_interval(std::uint64_t max);

  // RandomState.shuffle for a 1-D array: Fisher-Yates from the last element down.
  template <typename T>
  void shuffle(std::span<T> values) {
    if (values.size() < 2) return;
    for (std::size_t i = values.size() - 1; i >= 1; --i) {
      const auto j = static_cast<std::size_t>(random_interval(i));
      std::swap(values[i], values[j]);
    }
  }

 private:
  void twist();
  std::array<std::uint32_t, 624> state_{};
  int position_ = 624;
};

}  // namespace primus::data
