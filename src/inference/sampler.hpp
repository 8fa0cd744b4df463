// Chooses the next token from a step's logits, as Hugging Face's generate() does: greedy (arg
// max, ties to the lower id), or sampling from softmax(logits / temperature) restricted to the
// top_k most likely tokens (0: all) and then to the smallest set whose probability reaches top_p
// (nucleus; 1: all), renormalised. Draws come from the engine's Philox generator seeded by
// `seed`, so a seed reproduces a generation exactly. Only the first `vocab` logits (the real
// vocabulary, not the padding) are candidates.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/rng.hpp"

namespace primus::inference {

struct SamplingConfig {
  bool greedy = true;
  double temperature = 1.0;   // > 0
  std::int64_t top_k = 0;     // 0: no limit
  double top_p = 1.0;         // (0, 1]
  std::uint64_t seed = 0;
  // Throws primus::Error naming the option (--temperature, --top-k, --top-p) when out of range.
  void validate() const;
};

class Sampler {
 public:
  Sampler(const SamplingConfig& config, std::int64_t vocab);
  std::int32_t next(const float* logits);

 private:
  SamplingConfig c_;
  std::int64_t vocab_;
  Rng rng_;
  std::vector<std::pair<float, std::int32_t>> candidates_;
};

}  // namespace primus::inference
