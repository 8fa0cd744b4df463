// Dense matrix multiply through oneDNN's matmul primitive (JIT-tuned for AVX-512/AMX/BF16,
// about 360 GFLOP/s fp32 and 730 GFLOP/s bf16 on two Zen 5 cores, far ahead of Debian's
// OpenBLAS). Hand-written here: only the shape/stride bookkeeping and a primitive cache.
//
// Row-major throughout. Computes
//     C[M,N] = alpha * op(A) @ op(B)            (accumulate = false)
//     C[M,N] = alpha * op(A) @ op(B) + C        (accumulate = true: gradient accumulation)
// where op(A) is [M,K] and op(B) is [K,N]:
//     trans_a = false: A stored [M,K] with row stride lda (>= K)
//     trans_a = true:  A stored [K,M] with row stride lda (>= M)
//     trans_b = false: B stored [K,N] with row stride ldb (>= N)
//     trans_b = true:  B stored [N,K] with row stride ldb (>= K)
//     C stored [M,N] with row stride ldc (>= N)
//
// The three GEMMs of a linear layer y = x W^T (x [T,in], W [out,in], Megatron's layout):
//     forward:   y[T,out]   = x[T,in] @ W^T          gemm(false, true,  T, out, in, x, in, W, in, y, out)
//     dinput:    dx[T,in]   = dy[T,out] @ W          gemm(false, false, T, in, out, dy, out, W, in, dx, in)
//     dweight:   dW[out,in] += dy^T @ x              gemm(true,  false, out, in, T, dy, out, x, in, dW, in,
//                                                         1.0f, /*accumulate=*/true)
//
// Primitives are created once per distinct (dtype, shape, strides, transposes, alpha,
// accumulate) -- or per (dtype, transposes, alpha, accumulate) with dynamic_shape -- and cached for the life of the process together with their scratchpad, so a
// training step allocates nothing. Thread-safe; calls with the same shape serialise.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.hpp"

namespace primus::kernels {

struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;  // 0 means "packed": K/M, N/K, N as per transposes
  float alpha = 1.0f;
  bool accumulate = false;  // C += alpha * op(A) op(B) instead of C = ...
  // Shapes that change every step (MoE expert blocks: rows per expert vary with routing) would
  // fill the cache with one primitive per size. dynamic_shape = true uses one primitive with
  // run-time M/N/K/strides per (dtype, transposes, alpha, accumulate) instead; it is somewhat
  // slower than a shape-specialised primitive, so leave it off for fixed shapes.
  bool dynamic_shape = false;
};

// fp32 x fp32 -> fp32.
void gemm(const GemmArgs& args, const float* a, const float* b, float* c);
// bf16 x bf16 -> fp32 (products accumulated in fp32 by the hardware's dot-product instructions).
void gemm(const GemmArgs& args, const bf16* a, const bf16* b, float* c);

// Positional shorthand for the fp32 and bf16 forms above.
inline void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                 std::int64_t ldc, float alpha = 1.0f, bool accumulate = false) {
  gemm(GemmArgs{trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, accumulate}, a, b, c);
}
inline void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 const bf16* a, std::int64_t lda, const bf16* b, std::int64_t ldb, float* c,
                 std::int64_t ldc, float alpha = 1.0f, bool accumulate = false) {
  gemm(GemmArgs{trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, accumulate}, a, b, c);
}

// Number of cached primitives (for tests and diagnostics).
std::size_t gemm_cache_size();
// 2*M*N*K: the flop count benchmarks divide by.
inline double gemm_flops(std::int64_t m, std::int64_t n, std::int64_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

}  // namespace primus::kernels
