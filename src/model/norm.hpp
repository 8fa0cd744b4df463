// The model's normalization (RMSNorm or LayerNorm, as configured) over rows of `cols` features.
#pragma once

#include <cstdint>

#include "model/model_config.hpp"

namespace primus::model {

struct NormParams {
  const float* w = nullptr;
  const float* b = nullptr;  // LayerNorm only (may be nullptr)
  float* dw = nullptr;       // accumulated
  float* db = nullptr;
};

// x [rows, cols] -> y [rows, cols]; mean [rows] (LayerNorm only), rstd [rows] saved.
void norm_forward(Norm kind, float eps, const NormParams& p, const float* x, float* y, float* mean, float* rstd,
                  std::int64_t rows, std::int64_t cols);
// dy, x [rows, cols] -> dx [rows, cols] (may alias dy); parameter gradients accumulated.
// workspace: norm_workspace(cols) floats.
void norm_backward(Norm kind, const NormParams& p, const float* dy, const float* x, const float* mean,
                   const float* rstd, float* dx, std::int64_t rows, std::int64_t cols, float* workspace);
std::int64_t norm_workspace(std::int64_t cols);

}  // namespace primus::model
