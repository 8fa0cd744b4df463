// numpy's default_rng(seed) (SeedSequence → PCG64, XSL-RR output) and Generator.integers for int32
// (Lemire's bounded method on buffered 32-bit draws), as far as Megatron's mock dataset uses them:
// rng = numpy.random.default_rng(seed=0); rng.integers(1, 4096, size=100000, dtype=numpy.int32).
// Hand-written from the published PCG64 / SeedSequence algorithms so that mock sequence lengths
// equal Megatron's; verified against numpy's output in tests/data/numpy_random_test.cpp.
#pragma once

#include <cstdint>

namespace primus::data {

class NumpyPcg64 {
 public:
  // numpy.random.default_rng(seed) for a non-negative seed below 2^32.
  explicit NumpyPcg64(std::uint32_t seed);
  std::uint64_t next_uint64();
  std::uint32_t next_uint32();  // numpy buffers the upper half of a 64-bit draw
  // Generator.integers(low, high, dtype=int32) for one value (high exclusive).
  std::int32_t integers_int32(std::int32_t low, std::int32_t high);

 private:
  unsigned __int128 state_ = 0;
  unsigned __int128 inc_ = 0;
  bool has_uint32_ = false;
  std::uint32_t uinteger_ = 0;
};

}  // namespace primus::data
