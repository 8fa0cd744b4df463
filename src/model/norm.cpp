#include "model/norm.hpp"

#include <algorithm>

#include "kernels/layernorm.hpp"
#include "kernels/rmsnorm.hpp"

namespace primus::model {

void norm_forward(Norm kind, float eps, const NormParams& p, const float* x, float* y, float* mean, float* rstd,
                  std::int64_t rows, std::int64_t cols) {
  if (kind == Norm::RMSNorm) kernels::rmsnorm_forward(x, p.w, y, rstd, rows, cols, eps);
  else kernels::layernorm_forward(x, p.w, p.b, y, mean, rstd, rows, cols, eps);
}

void norm_backward(Norm kind, const NormParams& p, const float* dy, const float* x, const float* mean,
                   const float* rstd, float* dx, std::int64_t rows, std::int64_t cols, float* workspace) {
  if (kind == Norm::RMSNorm) kernels::rmsnorm_backward(dy, x, p.w, rstd, dx, p.dw, rows, cols, workspace);
  else kernels::layernorm_backward(dy, x, p.w, mean, rstd, dx, p.dw, p.db, rows, cols, workspace);
}

std::int64_t norm_workspace(std::int64_t cols) {
  return static_cast<std::int64_t>(
      std::max(kernels::rmsnorm_backward_workspace(cols), kernels::layernorm_backward_workspace(cols)));
}

}  // namespace primus::model
