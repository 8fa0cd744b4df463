// Dropout (Megatron --hidden-dropout / --attention-dropout on GPT-style models; Llama presets
// set both to 0). The keep mask is never stored: element i of a call keeps its value iff
// Philox(seed, stream, offset + i/4) says so, so backward regenerates the same mask from the
// same (rng state, n) and the activations memory holds no mask. Kept values are scaled by
// 1/(1-p) (inverted dropout, as torch.nn.functional.dropout).
#pragma once

#include <cstdint>

#include "core/rng.hpp"

namespace primus::kernels {

// Where a dropout call's random numbers start; capture it before forward, pass it to backward.
struct DropoutState {
  std::uint64_t seed = 0, stream = 0, offset = 0;
};

// Reserves the counter range for n elements on rng (advancing it) and returns its start.
DropoutState dropout_reserve(Rng& rng, std::int64_t n);

// y[i] = keep(i) ? x[i] / (1-p) : 0 for i < n; y may alias x. p in [0, 1).
void dropout_forward(const float* x, float* y, std::int64_t n, float p, const DropoutState& st);
// dx[i] = keep(i) ? dy[i] / (1-p) : 0 with the mask of the forward call with the same state.
void dropout_backward(const float* dy, float* dx, std::int64_t n, float p,
                      const DropoutState& st);

}  // namespace primus::kernels
