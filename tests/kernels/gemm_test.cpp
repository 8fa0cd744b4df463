#include "kernels/gemm.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

// Naive reference in double: C = alpha * op(A) op(B) (+ C0).
std::vector<float> reference(const GemmArgs& g, const std::vector<float>& a,
                             const std::vector<float>& b, std::vector<float> c, std::int64_t lda,
                             std::int64_t ldb, std::int64_t ldc) {
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < g.k; ++p) {
        const double av = g.trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = g.trans_b ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      float& out = c[i * ldc + j];
      out = static_cast<float>(g.alpha * s + (g.accumulate ? out : 0.0));
    }
  return c;
}

std::vector<float> random_vec(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

TEST(KernelGemm, Fp32AllTransposesStridesAndAccumulate) {
  const std::int64_t M = 37, N = 29, K = 53;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int acc = 0; acc < 2; ++acc) {
        const std::int64_t pad = 3;  // non-packed leading dimensions
        const std::int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        GemmArgs g{ta == 1, tb == 1, M, N, K, lda, ldb, ldc, acc ? 0.5f : 1.0f, acc == 1};
        const auto a = random_vec((ta ? K : M) * lda, 1);
        const auto b = random_vec((tb ? N : K) * ldb, 2);
        auto c = random_vec(M * ldc, 3);
        const auto want = reference(g, a, b, c, lda, ldb, ldc);
        gemm(g, a.data(), b.data(), c.data());
        for (std::int64_t i = 0; i < M; ++i)
          EXPECT_LT(rel_l2(c.data() + i * ldc, want.data() + i * ldc, N), 1e-5)
              << "ta=" << ta << " tb=" << tb << " acc=" << acc << " row " << i;
      }
}

TEST(KernelGemm, MatchesTorchFixtures) {
  const test::Fixture f32("gemm_f32"), b16("gemm_bf16");
  const auto a = f32.f("a"), b = f32.f("b");
  const std::int64_t M = f32.dim("a", 0), K = f32.dim("a", 1), N = f32.dim("b", 0);
  std::vector<float> c(M * N);
  gemm(false, true, M, N, K, a.data(), K, b.data(), K, c.data(), N);
  EXPECT_LT(rel_l2(c, f32.f("c")), 1e-6);
  std::vector<bf16> ab(a.size()), bb(b.size());
  convert_f32_to_bf16(a.data(), ab.data(), a.size());
  convert_f32_to_bf16(b.data(), bb.data(), b.size());
  gemm(false, true, M, N, K, ab.data(), K, bb.data(), K, c.data(), N);
  // bf16 inputs, fp32 accumulation: matches torch on the same rounded inputs to fp32 precision.
  EXPECT_LT(rel_l2(c, b16.f("c")), 1e-5);
  EXPECT_LT(rel_l2(c, f32.f("c")), 1e-2);  // and is within bf16 error of the fp32 product
}

TEST(KernelGemm, Bf16LinearLayerShapesAndCache) {
  const std::int64_t T = 64, in = 96, out = 48;
  const auto x = random_vec(T * in, 4), w = random_vec(out * in, 5), dy = random_vec(T * out, 6);
  std::vector<bf16> xb(x.size()), wb(w.size()), dyb(dy.size());
  convert_f32_to_bf16(x.data(), xb.data(), x.size());
  convert_f32_to_bf16(w.data(), wb.data(), w.size());
  convert_f32_to_bf16(dy.data(), dyb.data(), dy.size());
  std::vector<float> y(T * out), dx(T * in), dw(out * in, 1.0f);
  gemm(false, true, T, out, in, xb.data(), in, wb.data(), in, y.data(), out);
  gemm(false, false, T, in, out, dyb.data(), out, wb.data(), in, dx.data(), in);
  gemm(true, false, out, in, T, dyb.data(), out, xb.data(), in, dw.data(), in, 1.0f, true);
  EXPECT_LT(rel_l2(y, reference({false, true, T, out, in, in, in, out}, x, w, y, in, in, out)), 1e-2);
  EXPECT_LT(rel_l2(dx, reference({false, false, T, in, out, out, in, in}, dy, w, dx, out, in, in)),
            1e-2);
  std::vector<float> ones(out * in, 1.0f);
  EXPECT_LT(rel_l2(dw, reference({true, false, out, in, T, out, in, in, 1.0f, true}, dy, x, ones,
                                 out, in, in)),
            1e-2);
  const std::size_t cached = gemm_cache_size();
  gemm(false, true, T, out, in, xb.data(), in, wb.data(), in, y.data(), out);
  EXPECT_EQ(gemm_cache_size(), cached);  // same shape: primitive reused
}

TEST(KernelGemm, DynamicShapesShareOnePrimitive) {
  // MoE-style: expert blocks of varying row counts through one run-time-shaped primitive.
  const std::int64_t N = 24, K = 40;
  std::size_t before = 0;
  for (int ta = 0; ta < 2; ++ta)
    for (int acc = 0; acc < 2; ++acc) {
      for (std::int64_t M : {1, 7, 64, 33}) {
        GemmArgs g{ta == 1, true, M, N, K, 0, 0, 0, 1.0f, acc == 1, /*dynamic_shape=*/true};
        const std::int64_t lda = ta ? M : K;
        const auto a = random_vec(M * K, 11), b = random_vec(N * K, 12);
        const auto c0 = random_vec(M * N, 13);
        const auto want = reference(g, a, b, c0, lda, K, N);
        auto c = c0;
        gemm(g, a.data(), b.data(), c.data());
        EXPECT_LT(rel_l2(c, want), 1e-5) << "M=" << M << " ta=" << ta << " acc=" << acc;
        std::vector<bf16> ah(a.size()), bh(b.size());
        convert_f32_to_bf16(a.data(), ah.data(), a.size());
        convert_f32_to_bf16(b.data(), bh.data(), b.size());
        c = c0;
        gemm(g, ah.data(), bh.data(), c.data());
        EXPECT_LT(rel_l2(c, want), 1e-2) << "bf16 M=" << M;
        if (M == 1 && ta == 0 && acc == 0) before = gemm_cache_size();
      }
    }
  // 2 dtypes x 2 transposes x 2 accumulate modes, whatever the row counts.
  EXPECT_EQ(gemm_cache_size(), before + 6);
}

TEST(KernelGemm, RejectsBadShapes) {
  float a[4] = {}, b[4] = {}, c[4] = {};
  EXPECT_THROW(gemm(false, false, 0, 2, 2, a, 2, b, 2, c, 2), Error);
  EXPECT_THROW(gemm(false, false, 2, 2, 2, a, 1, b, 2, c, 2), Error);
}

}  // namespace
}  // namespace primus::kernels
