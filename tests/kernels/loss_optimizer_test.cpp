// Cross-entropy, AdamW, SGD and gradient clipping against PyTorch (torch.optim, clip_grad_norm_).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/grad_norm.hpp"
#include "kernels/optimizer.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

TEST(KernelCrossEntropy, PaddedVocabMaskedLossMatchesTorch) {
  const test::Fixture f("cross_entropy");
  const std::int64_t T = f.dim("logits", 0), Vp = f.dim("logits", 1), V = 100;
  const auto logits = f.f("logits"), mask = f.f("mask");
  const auto targets = f.i("targets");
  std::vector<float> losses(T), lse(T), dlogits(logits.size(), 7.0f);
  cross_entropy_forward(logits.data(), targets.data(), losses.data(), lse.data(), T, V, Vp);
  EXPECT_LT(rel_l2(losses, f.f("losses")), 1e-6);
  EXPECT_LT(rel_l2(lse, f.f("lse")), 1e-6);
  // Megatron's masked mean: d(total)/d(loss_t) = mask_t / sum(mask).
  float msum = 0;
  for (float m : mask) msum += m;
  std::vector<float> dloss(T);
  for (std::int64_t t = 0; t < T; ++t) dloss[t] = mask[t] / msum;
  cross_entropy_backward(logits.data(), lse.data(), targets.data(), dloss.data(), dlogits.data(), T,
                         V, Vp);
  EXPECT_LT(rel_l2(dlogits, f.f("dlogits")), 1e-6);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t v = V; v < Vp; ++v) ASSERT_EQ(dlogits[t * Vp + v], 0.0f);
  // In place: dlogits overwrites logits.
  auto inplace = logits;
  cross_entropy_backward(inplace.data(), lse.data(), targets.data(), dloss.data(), inplace.data(),
                         T, V, Vp);
  EXPECT_EQ(inplace, dlogits);
  // Fused forward+backward, in place: identical to the two calls.
  auto fused = logits;
  std::vector<float> losses2(T), lse2(T);
  cross_entropy_fused(fused.data(), targets.data(), dloss.data(), losses2.data(), lse2.data(),
                      fused.data(), T, V, Vp);
  EXPECT_EQ(fused, dlogits);
  EXPECT_EQ(losses2, losses);
  EXPECT_EQ(lse2, lse);
  std::vector<std::int32_t> bad(targets);
  bad[3] = static_cast<std::int32_t>(V);  // a padded id is not a valid target
  EXPECT_THROW(cross_entropy_forward(logits.data(), bad.data(), losses.data(), lse.data(), T, V, Vp),
               Error);
}

TEST(KernelCrossEntropy, VocabParallelPiecesEqualThePlainLoss) {
  // The logits split over t "ranks" by vocabulary columns (the padding columns in the last ones),
  // the max / sum-exp / target pieces combined as the tensor-parallel reductions combine them.
  const test::Fixture f("cross_entropy");
  const std::int64_t T = f.dim("logits", 0), Vp = f.dim("logits", 1), V = 100;
  const auto logits = f.f("logits");
  const auto targets = f.i("targets");
  std::vector<float> losses(T), lse(T), dlogits(logits.size());
  cross_entropy_forward(logits.data(), targets.data(), losses.data(), lse.data(), T, V, Vp);
  std::vector<float> dloss(T);
  for (std::int64_t t = 0; t < T; ++t) dloss[t] = 0.1f * static_cast<float>(t % 7) - 0.2f;
  cross_entropy_backward(logits.data(), lse.data(), targets.data(), dloss.data(), dlogits.data(), T, V, Vp);
  for (std::int64_t ranks : {2, 4}) {
    const std::int64_t L = Vp / ranks;
    std::vector<std::vector<float>> slice(ranks, std::vector<float>(T * L));
    for (std::int64_t r = 0; r < ranks; ++r)
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t j = 0; j < L; ++j) slice[r][t * L + j] = logits[t * Vp + r * L + j];
    std::vector<float> mx(T, -INFINITY), sum(T, 0.0f), target(T, 0.0f), part_max(T), part_sum(T), part_target(T);
    for (std::int64_t r = 0; r < ranks; ++r) {
      cross_entropy_local_max(slice[r].data(), part_max.data(), T, L, r * L, V);
      for (std::int64_t t = 0; t < T; ++t) mx[t] = std::max(mx[t], part_max[t]);
    }
    for (std::int64_t r = 0; r < ranks; ++r) {
      cross_entropy_local_sums(slice[r].data(), targets.data(), mx.data(), part_sum.data(), part_target.data(), T, L,
                               r * L, V);
      for (std::int64_t t = 0; t < T; ++t) {
        sum[t] += part_sum[t];
        target[t] += part_target[t];
      }
    }
    std::vector<float> vp_lse(T), vp_loss(T);
    for (std::int64_t t = 0; t < T; ++t) {
      vp_lse[t] = mx[t] + std::log(sum[t]);
      vp_loss[t] = vp_lse[t] - target[t];
    }
    EXPECT_LT(rel_l2(vp_loss, losses), 1e-6) << ranks;
    for (std::int64_t r = 0; r < ranks; ++r) {
      std::vector<float> d(T * L);
      cross_entropy_local_backward(slice[r].data(), vp_lse.data(), targets.data(), dloss.data(), d.data(), T, L, r * L, V);
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t j = 0; j < L; ++j)
          EXPECT_NEAR(d[t * L + j], dlogits[t * Vp + r * L + j], 1e-6) << ranks << " " << r << " " << t << " " << j;
    }
  }
}

TEST(KernelAdamW, FiveStepsMatchTorchOptimAdamW) {
  const test::Fixture f("adamw");
  const auto grads = f.f("grads");
  const std::int64_t steps = f.dim("grads", 0), n = f.dim("grads", 1);
  for (const auto& [tag, wd] : {std::pair{"decay", 0.1f}, {"nodecay", 0.0f}}) {
    const std::string t = tag;
    auto p = f.f("p0");
    std::vector<float> m(n, 0.0f), v(n, 0.0f);
    std::vector<bf16> pb(n);
    for (std::int64_t s = 0; s < steps; ++s) {
      AdamWParams hp{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                     .weight_decay = wd, .step = s + 1};
      adamw_step(p.data(), grads.data() + s * n, m.data(), v.data(), n, hp, pb.data());
    }
    EXPECT_LT(rel_l2(p, f.f(t + "_p")), 1e-6) << t;
    EXPECT_LT(rel_l2(m, f.f(t + "_m")), 1e-6) << t;
    EXPECT_LT(rel_l2(v, f.f(t + "_v")), 1e-6) << t;
    for (std::int64_t i = 0; i < n; i += 101) EXPECT_EQ(pb[i].bits, to_bf16(p[i]).bits);
  }
  float x = 1, g = 1, mm = 0, vv = 0;
  EXPECT_THROW(adamw_step(&x, &g, &mm, &vv, 1, AdamWParams{.step = 0}), Error);
}

TEST(KernelSgd, MomentumAndNesterovMatchTorch) {
  const test::Fixture f("sgd");
  const auto grads = f.f("grads");
  const std::int64_t steps = f.dim("grads", 0), n = f.dim("grads", 1);
  for (const auto& [tag, nesterov] : {std::pair{"plain", false}, {"nesterov", true}}) {
    const std::string t = tag;
    auto p = f.f("p0");
    std::vector<float> buf(n);
    for (std::int64_t s = 0; s < steps; ++s)
      sgd_step(p.data(), grads.data() + s * n, buf.data(), n,
               SgdParams{.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f,
                         .nesterov = nesterov, .first_step = s == 0});
    EXPECT_LT(rel_l2(p, f.f(t + "_p")), 1e-6) << t;
    EXPECT_LT(rel_l2(buf, f.f(t + "_buf")), 1e-6) << t;
  }
}

TEST(KernelGradNorm, GlobalNormAndClipMatchTorch) {
  const test::Fixture f("grad_norm");
  auto a = f.f("a"), b = f.f("b");
  const GradSpan spans[] = {{a.data(), static_cast<std::int64_t>(a.size())},
                            {b.data(), static_cast<std::int64_t>(b.size())}};
  const float norm = clip_grad_norm(spans, 1.0f);
  EXPECT_NEAR(norm, f.f("norm")[0], 1e-6 * f.f("norm")[0]);
  EXPECT_LT(rel_l2(a, f.f("a_clipped")), 1e-6);
  EXPECT_LT(rel_l2(b, f.f("b_clipped")), 1e-6);
  // Below the threshold nothing changes; a NaN gradient reports NaN and scales nothing.
  auto c = f.f("b");
  const GradSpan small[] = {{c.data(), static_cast<std::int64_t>(c.size())}};
  clip_grad_norm(small, 1e6f);
  EXPECT_EQ(c, f.f("b"));
  c[0] = NAN;
  EXPECT_TRUE(std::isnan(clip_grad_norm(small, 1.0f)));
  EXPECT_EQ(c[1], f.f("b")[1]);
}

}  // namespace
}  // namespace primus::kernels
