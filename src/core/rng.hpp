// Deterministic random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11), a counter-based generator. Output number i of a stream is a pure function
// of (seed, stream, i), so a fill can be split across any number of threads and still produce
// the same values bit for bit; a stream can also be repositioned (checkpoint resume) by setting
// its offset. Different uses (per-layer init, dropout, data shuffling) take different `stream`
// ids so that adding one never shifts the numbers another sees.
//
// Normals use Box-Muller on pairs of 24-bit uniforms, computed in double then rounded to fp32.
// Note: the values are NOT those of torch.manual_seed/torch.randn (PyTorch's CPU generator is a
// Mersenne Twister with its own transforms); reproducibility is within this engine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace primus {

// One Philox4x32-10 block: 128-bit counter, 64-bit key -> 128 random bits.
std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> counter,
                                        std::array<std::uint32_t, 2> key);

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  // dst[i] ~ N(mean, std^2), i < n. Consumes ceil(n/4) counter blocks.
  void fill_normal(float* dst, std::size_t n, float mean, float std);
  // dst[j] = normal number `first + j` of this stream (mean, std), j < n, independent of the
  // stream's offset: element i of a tensor gets the same value however the tensor is split
  // (tensor-parallel shards initialise exactly the slice of the full tensor they hold).
  void fill_normal_at(float* dst, std::uint64_t first, std::size_t n, float mean, float std) const;
  // dst[i] ~ U[lo, hi), i < n. Consumes ceil(n/4) counter blocks.
  void fill_uniform(float* dst, std::size_t n, float lo, float hi);
  // One uniform 64-bit integer (consumes one block).
  std::uint64_t next_u64();
  // One float in [0, 1) (24 random bits; consumes one block).
  float uniform();
  // An integer uniform in [0, n) without modulo bias (n >= 1).
  std::uint64_t below(std::uint64_t n);

  // Counter position, in 128-bit blocks; save it to resume a stream exactly.
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t blocks) { offset_ = blocks; }
  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }

 private:
  std::array<std::uint32_t, 4> block(std::uint64_t index) const;

  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t offset_ = 0;
};

}  // namespace primus
