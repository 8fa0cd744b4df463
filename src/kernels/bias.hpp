// Bias add and bias gradient for linear layers with --add-bias-linear (GPT-style models).
#pragma once

#include <cstddef>
#include <cstdint>

namespace primus::kernels {

// y [rows, cols] += bias [cols].
void bias_add_forward(float* y, const float* bias, std::int64_t rows, std::int64_t cols);

// Floats of workspace bias_backward needs.
std::size_t bias_backward_workspace(std::int64_t cols);
// dbias [cols] += sum over rows of dy [rows, cols]. Deterministic for any thread count.
// workspace: bias_backward_workspace(cols) floats.
void bias_backward(const float* dy, float* dbias, std::int64_t rows, std::int64_t cols,
                   float* workspace);

}  // namespace primus::kernels
