#include "model/linear.hpp"

#include "kernels/bias.hpp"
#include "kernels/gemm.hpp"

namespace primus::model {

namespace {

template <typename T>
void gemm(const LinearWeights& l, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  kernels::GemmArgs g{ta, tb, m, n, k, lda, ldb, ldc, 1.0f, accumulate};
  g.dynamic_shape = l.dynamic_rows;
  kernels::gemm(g, a, b, c);
}

}  // namespace

void linear_forward(const LinearWeights& l, const float* x, float* y, std::int64_t tokens, const LinearScratch& s) {
  if (tokens == 0) return;
  // y[T,out] = x[T,in] @ W^T
  if (l.w_bf16) {
    convert_f32_to_bf16(x, s.a, static_cast<size_t>(tokens * l.in));
    gemm(l, false, true, tokens, l.out, l.in, s.a, l.in, l.w_bf16, l.in, y, l.out, false);
  } else {
    gemm(l, false, true, tokens, l.out, l.in, x, l.in, l.w, l.in, y, l.out, false);
  }
  if (l.b) kernels::bias_add_forward(y, l.b, tokens, l.out);
}

void linear_backward(const LinearWeights& l, const float* dy, const float* x, float* dx, std::int64_t tokens,
                     const LinearScratch& s) {
  if (tokens == 0) return;
  if (l.db) kernels::bias_backward(dy, l.db, tokens, l.out, s.bias_ws);
  if (l.w_bf16) {
    convert_f32_to_bf16(dy, s.a, static_cast<size_t>(tokens * l.out));
    // dx[T,in] = dy[T,out] @ W[out,in]
    if (dx) gemm(l, false, false, tokens, l.in, l.out, s.a, l.out, l.w_bf16, l.in, dx, l.in, false);
    // dW[out,in] += dy^T @ x
    convert_f32_to_bf16(x, s.b, static_cast<size_t>(tokens * l.in));
    gemm(l, true, false, l.out, l.in, tokens, s.a, l.out, s.b, l.in, l.dw, l.in, true);
  } else {
    if (dx) gemm(l, false, false, tokens, l.in, l.out, dy, l.out, l.w, l.in, dx, l.in, false);
    gemm(l, true, false, l.out, l.in, tokens, dy, l.out, x, l.in, l.dw, l.in, true);
  }
}

}  // namespace primus::model
