#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"
#include "kernels/moe_dispatch.hpp"
#include "kernels/router.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

TEST(KernelMoe, PlanPermuteUnpermuteMatchTorch) {
  const test::Fixture f("moe");
  const std::int64_t T = f.dim("indices", 0), K = f.dim("indices", 1), E = 6,
                     H = f.dim("x", 1), N = T * K;
  const auto idx = f.i("indices");
  std::vector<std::int32_t> counts(E), offsets(E + 1), row_of(N), token_of(N);
  const MoePlan plan{counts.data(), offsets.data(), row_of.data(), token_of.data()};
  moe_plan(idx.data(), T, K, E, plan);
  EXPECT_EQ(counts, f.i("counts"));
  EXPECT_EQ(row_of, f.i("row_of"));
  EXPECT_EQ(token_of, f.i("token_of"));
  EXPECT_EQ(offsets[E], N);

  const auto x = f.f("x"), dperm = f.f("dperm");
  std::vector<float> permuted(N * H), dx(T * H);
  moe_permute_forward(x.data(), plan, T, K, H, permuted.data());
  EXPECT_EQ(permuted, f.f("permuted"));
  moe_permute_backward(dperm.data(), plan, T, K, H, dx.data());
  EXPECT_LT(rel_l2(dx, f.f("dx")), 1e-6);

  const auto eo = f.f("expert_out"), probs = f.f("probs"), dy = f.f("dy");
  std::vector<float> y(T * H), deo(N * H), dprobs(N);
  moe_unpermute_forward(eo.data(), probs.data(), plan, T, K, H, y.data());
  EXPECT_LT(rel_l2(y, f.f("y")), 1e-6);
  moe_unpermute_backward(dy.data(), eo.data(), probs.data(), plan, T, K, H, deo.data(),
                         dprobs.data());
  EXPECT_LT(rel_l2(deo, f.f("dexpert_out")), 1e-6);
  EXPECT_LT(rel_l2(dprobs, f.f("dprobs")), 1e-6);

  std::vector<std::int32_t> bad(idx);
  bad[0] = static_cast<std::int32_t>(E);
  EXPECT_THROW(moe_plan(bad.data(), T, K, E, plan), Error);
}

TEST(KernelMoe, AuxLoadBalancingLossMatchesTorch) {
  const test::Fixture f("moe");
  const std::int64_t T = f.dim("logits", 0), E = f.dim("logits", 1), K = f.dim("indices", 1);
  const auto logits = f.f("logits");
  const auto idx = f.i("indices");
  std::vector<float> dlogits(logits.size(), 0.0f);
  const float loss =
      router_aux_loss(logits.data(), idx.data(), T, E, K, 0.01f, 1.0f, dlogits.data());
  EXPECT_NEAR(loss, f.f("aux_loss")[0], 1e-6 * f.f("aux_loss")[0]);
  EXPECT_LT(rel_l2(dlogits, f.f("aux_dlogits")), 1e-5);
}

}  // namespace
}  // namespace primus::kernels
