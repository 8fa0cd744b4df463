#include "kernels/router.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

void check(const std::string& name, RouterConfig cfg) {
  const test::Fixture f(name);
  const std::int64_t T = f.dim("logits", 0);
  cfg.experts = f.dim("logits", 1);
  cfg.topk = f.dim("probs", 1);
  const auto logits = f.f("logits"), dprobs = f.f("dprobs");
  std::vector<float> probs(T * cfg.topk), dlogits(logits.size(), 9.0f);
  std::vector<std::int32_t> idx(T * cfg.topk);
  router_topk_forward(cfg, logits.data(), probs.data(), idx.data(), T);
  EXPECT_EQ(idx, f.i("indices")) << name;
  EXPECT_LT(rel_l2(probs, f.f("probs")), 1e-6) << name;
  router_topk_backward(cfg, logits.data(), idx.data(), dprobs.data(), dlogits.data(), T);
  EXPECT_LT(rel_l2(dlogits, f.f("dlogits")), 1e-6) << name;
}

TEST(KernelRouter, SoftmaxAfterTopkMatchesTorch) { check("router_softmax", {}); }

TEST(KernelRouter, PreSoftmaxMatchesTorch) {
  check("router_pre_softmax", RouterConfig{.pre_softmax = true});
}

TEST(KernelRouter, SigmoidNormalisedScaledMatchesTorch) {
  check("router_sigmoid", RouterConfig{.score = RouterScore::Sigmoid, .scaling_factor = 2.5f});
}

TEST(KernelRouter, RejectsBadConfigs) {
  float l[4] = {}, p[4];
  std::int32_t i[4];
  EXPECT_THROW(router_topk_forward(RouterConfig{.experts = 2, .topk = 3}, l, p, i, 1), Error);
  EXPECT_THROW(router_topk_forward(RouterConfig{.experts = 4, .topk = 1,
                                                .score = RouterScore::Sigmoid,
                                                .pre_softmax = true},
                                   l, p, i, 1),
               Error);
}

}  // namespace
}  // namespace primus::kernels
