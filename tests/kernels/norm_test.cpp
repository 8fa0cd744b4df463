#include <gtest/gtest.h>

#include <vector>

#include "core/threads.hpp"
#include "fixture.hpp"
#include "kernels/layernorm.hpp"
#include "kernels/rmsnorm.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

TEST(KernelRmsNorm, ForwardBackwardMatchTorch) {
  const test::Fixture f("rmsnorm");
  const std::int64_t rows = f.dim("x", 0), cols = f.dim("x", 1);
  const auto x = f.f("x"), w = f.f("w"), dy = f.f("dy");
  std::vector<float> y(x.size()), rstd(rows), dx(x.size()), dw(cols, 0.25f);
  std::vector<float> ws(rmsnorm_backward_workspace(cols));
  rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, cols, 1e-5f);
  EXPECT_LT(rel_l2(y, f.f("y")), 1e-6);
  rmsnorm_backward(dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(), rows, cols,
                   ws.data());
  EXPECT_LT(rel_l2(dx, f.f("dx")), 1e-5);
  auto want_dw = f.f("dw");
  for (auto& v : want_dw) v += 0.25f;  // dweight accumulates
  EXPECT_LT(rel_l2(dw, want_dw), 1e-5);
  // In place (dx aliases dy) and thread-count independence.
  auto inplace = dy;
  std::vector<float> dw2(cols, 0.25f);
  const int before = num_threads();
  set_num_threads(1);
  rmsnorm_backward(inplace.data(), x.data(), w.data(), rstd.data(), inplace.data(), dw2.data(),
                   rows, cols, ws.data());
  set_num_threads(before);
  EXPECT_EQ(inplace, dx);
  EXPECT_EQ(dw2, dw);
}

TEST(KernelLayerNorm, ForwardBackwardMatchTorch) {
  const test::Fixture f("layernorm");
  const std::int64_t rows = f.dim("x", 0), cols = f.dim("x", 1);
  const auto x = f.f("x"), w = f.f("w"), b = f.f("b"), dy = f.f("dy");
  std::vector<float> y(x.size()), mean(rows), rstd(rows), dx(x.size()), dw(cols), db(cols);
  std::vector<float> ws(layernorm_backward_workspace(cols));
  layernorm_forward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols,
                    1e-5f);
  EXPECT_LT(rel_l2(y, f.f("y")), 1e-6);
  layernorm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dw.data(),
                     db.data(), rows, cols, ws.data());
  EXPECT_LT(rel_l2(dx, f.f("dx")), 1e-5);
  EXPECT_LT(rel_l2(dw, f.f("dw")), 1e-5);
  EXPECT_LT(rel_l2(db, f.f("db")), 1e-6);
}

}  // namespace
}  // namespace primus::kernels
