#include "inference/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace primus::inference {

void SamplingConfig::validate() const {
  if (greedy) return;
  if (!(temperature > 0.0) || !std::isfinite(temperature)) fail("--temperature {} must be a positive number", temperature);
  if (top_k < 0) fail("--top-k {} must be 0 (no limit) or positive", top_k);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail("--top-p {} must be in (0, 1]", top_p);
}

Sampler::Sampler(const SamplingConfig& config, std::int64_t vocab)
    : c_(config), vocab_(vocab), rng_(config.seed, /*stream=*/0x67656e6572617465ull) {
  c_.validate();
  if (vocab <= 0) fail("internal: sampling over a vocabulary of {}", vocab);
  candidates_.reserve(static_cast<std::size_t>(vocab));
}

std::int32_t Sampler::next(const float* logits) {
  if (c_.greedy) {
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < vocab_; ++i)
      if (logits[i] > logits[best]) best = i;
    return static_cast<std::int32_t>(best);
  }
  candidates_.clear();
  for (std::int64_t i = 0; i < vocab_; ++i)
    candidates_.emplace_back(static_cast<float>(logits[i] / c_.temperature), static_cast<std::int32_t>(i));
  // Most likely first; equal logits keep the lower id first.
  auto order = [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; };
  std::size_t keep = candidates_.size();
  if (c_.top_k > 0 && static_cast<std::size_t>(c_.top_k) < keep) {
    keep = static_cast<std::size_t>(c_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), order);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), order);
  }
  // Probabilities (max-subtracted), then the nucleus.
  const double mx = candidates_[0].first;
  std::vector<double> p(keep);
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) sum += p[i] = std::exp(static_cast<double>(candidates_[i].first) - mx);
  if (c_.top_p < 1.0) {
    double cum = 0.0;
    std::size_t n = 0;
    while (n < keep) {
      cum += p[n++] / sum;
      if (cum >= c_.top_p) break;
    }
    keep = n;
    sum = 0.0;
    for (std::size_t i = 0; i < keep; ++i) sum += p[i];
  }
  const double u = static_cast<double>(rng_.uniform()) * sum;
  double cum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace primus::inference
