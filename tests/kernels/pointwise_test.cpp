// Embedding, bias, activations and element-wise kernels against the PyTorch fixtures.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"
#include "kernels/activation.hpp"
#include "kernels/bias.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

TEST(KernelEmbedding, GatherAndScatterAddMatchTorch) {
  const test::Fixture f("embedding");
  const auto ids = f.i("ids");
  const auto table = f.f("table"), dout = f.f("dout");
  const std::int64_t T = f.dim("ids", 0), V = f.dim("table", 0), Hd = f.dim("table", 1);
  std::vector<float> out(T * Hd), dtable(V * Hd, 0.0f);
  embedding_forward(ids.data(), table.data(), out.data(), T, V, Hd);
  EXPECT_EQ(out, f.f("out"));
  embedding_backward(ids.data(), dout.data(), dtable.data(), T, V, Hd);
  EXPECT_LT(rel_l2(dtable, f.f("dtable")), 1e-6);
  std::vector<std::int32_t> bad = {0, static_cast<std::int32_t>(V)};
  EXPECT_THROW(embedding_forward(bad.data(), table.data(), out.data(), 2, V, Hd), Error);
}

TEST(KernelBias, AddAndGradMatchTorch) {
  const test::Fixture f("bias");
  const std::int64_t rows = f.dim("y0", 0), cols = f.dim("y0", 1);
  auto y = f.f("y0");
  const auto b = f.f("b"), dy = f.f("dy");
  bias_add_forward(y.data(), b.data(), rows, cols);
  EXPECT_LT(rel_l2(y, f.f("y")), 1e-7);
  std::vector<float> db(cols, 0.0f), ws(bias_backward_workspace(cols));
  bias_backward(dy.data(), db.data(), rows, cols, ws.data());
  EXPECT_LT(rel_l2(db, f.f("db")), 1e-6);
}

TEST(KernelSwiglu, ForwardBackwardMatchTorch) {
  const test::Fixture f("swiglu");
  const std::int64_t rows = f.dim("x", 0), ffn = f.dim("x", 1) / 2;
  const auto x = f.f("x"), dy = f.f("dy");
  std::vector<float> y(rows * ffn), dx(x.size());
  swiglu_forward(x.data(), y.data(), rows, ffn);
  EXPECT_LT(rel_l2(y, f.f("y")), 1e-6);
  swiglu_backward(dy.data(), x.data(), dx.data(), rows, ffn);
  EXPECT_LT(rel_l2(dx, f.f("dx")), 1e-6);
  auto inplace = x;  // din may overwrite the saved input
  swiglu_backward(dy.data(), inplace.data(), inplace.data(), rows, ffn);
  EXPECT_EQ(inplace, dx);
}

TEST(KernelGelu, ErfAndTanhMatchTorch) {
  const test::Fixture f("gelu");
  for (const auto& [tag, kind] : {std::pair{"none", GeluKind::Erf}, {"tanh", GeluKind::Tanh}}) {
    const std::string t = tag;
    const auto x = f.f(t + "_x"), dy = f.f(t + "_dy");
    std::vector<float> y(x.size()), dx(x.size());
    gelu_forward(x.data(), y.data(), static_cast<std::int64_t>(x.size()), kind);
    EXPECT_LT(rel_l2(y, f.f(t + "_y")), 1e-6) << t;
    gelu_backward(dy.data(), x.data(), dx.data(), static_cast<std::int64_t>(x.size()), kind);
    EXPECT_LT(rel_l2(dx, f.f(t + "_dx")), 1e-6) << t;
  }
}

TEST(KernelElementwise, AddAxpyScaleFillCast) {
  const std::int64_t n = 100001;  // parallel path plus a vector tail
  std::vector<float> a(n), b(n), out(n);
  for (std::int64_t i = 0; i < n; ++i) {
    a[i] = 0.001f * static_cast<float>(i);
    b[i] = 1.0f - 0.5f * static_cast<float>(i);
  }
  add(a.data(), b.data(), out.data(), n);
  EXPECT_EQ(out[n - 1], a[n - 1] + b[n - 1]);
  axpy(2.0f, a.data(), b.data(), n);
  EXPECT_FLOAT_EQ(b[7], 1.0f - 3.5f + 2.0f * 0.007f);
  scale(a.data(), 0.5f, n);
  EXPECT_FLOAT_EQ(a[10], 0.005f);
  fill(out.data(), 3.0f, n);
  EXPECT_EQ(out[n / 2], 3.0f);
  std::vector<bf16> h(n);
  cast_f32_to_bf16(b.data(), h.data(), n);
  std::vector<float> back(n);
  cast_bf16_to_f32(h.data(), back.data(), n);
  for (std::int64_t i = 0; i < n; i += 997) EXPECT_EQ(back[i], round_bf16(b[i]));
}

}  // namespace
}  // namespace primus::kernels
