#include "kernels/dropout.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "core/threads.hpp"

namespace primus::kernels {
namespace {

TEST(KernelDropout, MaskRegeneratedInBackwardAndStatistics) {
  const std::int64_t n = 100003;
  const float p = 0.1f;
  std::vector<float> x(n, 2.0f), y(n), dy(n, 1.0f), dx(n);
  Rng rng(42, 3);
  const DropoutState st = dropout_reserve(rng, n);
  EXPECT_EQ(rng.offset(), static_cast<std::uint64_t>((n + 3) / 4));
  dropout_forward(x.data(), y.data(), n, p, st);
  dropout_backward(dy.data(), dx.data(), n, p, st);
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(y[i] == 0.0f || y[i] == 2.0f / 0.9f) << i;
    ASSERT_EQ(y[i] == 0.0f, dx[i] == 0.0f) << i;  // same mask
    dropped += y[i] == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.005);
  // Next reservation gets a different mask; same state and 1 thread gives the same mask.
  std::vector<float> y2(n), y3(n);
  dropout_forward(x.data(), y2.data(), n, p, dropout_reserve(rng, n));
  EXPECT_NE(y, y2);
  const int before = num_threads();
  set_num_threads(1);
  dropout_forward(x.data(), y3.data(), n, p, st);
  set_num_threads(before);
  EXPECT_EQ(y, y3);
  EXPECT_THROW(dropout_forward(x.data(), y.data(), n, 1.0f, st), Error);
  dropout_forward(x.data(), y.data(), n, 0.0f, st);
  EXPECT_EQ(y, x);
}

}  // namespace
}  // namespace primus::kernels
