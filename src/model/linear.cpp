#include "model/linear.hpp"

#include "kernels/bias.hpp"
#include "kernels/gemm.hpp"

namespace primus::model {

void linear_forward(const LinearWeights& l, const float* x, float* y, std::int64_t tokens, const LinearScratch& s) {
  // y[T,out] = x[T,in] @ W^T
  if (l.w_bf16) {
    convert_f32_to_bf16(x, s.a, static_cast<size_t>(tokens * l.in));
    kernels::gemm(false, true, tokens, l.out, l.in, s.a, l.in, l.w_bf16, l.in, y, l.out);
  } else {
    kernels::gemm(false, true, tokens, l.out, l.in, x, l.in, l.w, l.in, y, l.out);
  }
  if (l.b) kernels::bias_add_forward(y, l.b, tokens, l.out);
}

void linear_backward(const LinearWeights& l, const float* dy, const float* x, float* dx, std::int64_t tokens,
                     const LinearScratch& s) {
  if (l.db) kernels::bias_backward(dy, l.db, tokens, l.out, s.bias_ws);
  if (l.w_bf16) {
    convert_f32_to_bf16(dy, s.a, static_cast<size_t>(tokens * l.out));
    // dx[T,in] = dy[T,out] @ W[out,in]
    if (dx) kernels::gemm(false, false, tokens, l.in, l.out, s.a, l.out, l.w_bf16, l.in, dx, l.in);
    // dW[out,in] += dy^T @ x
    convert_f32_to_bf16(x, s.b, static_cast<size_t>(tokens * l.in));
    kernels::gemm(true, false, l.out, l.in, tokens, s.a, l.out, s.b, l.in, l.dw, l.in, 1.0f, true);
  } else {
    if (dx) kernels::gemm(false, false, tokens, l.in, l.out, dy, l.out, l.w, l.in, dx, l.in);
    kernels::gemm(true, false, l.out, l.in, tokens, dy, l.out, x, l.in, l.dw, l.in, 1.0f, true);
  }
}

}  // namespace primus::model
