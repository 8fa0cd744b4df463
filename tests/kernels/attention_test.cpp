#include "kernels/attention.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/aligned.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "fixture.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

Result run(const test::Fixture& f, int threads, float softmax_scale = 0.0f) {
  AttentionShape s;
  s.batch = f.dim("q", 0);
  s.seq = f.dim("q", 1);
  s.heads = f.dim("q", 2);
  s.groups = f.dim("k", 2);
  s.head_dim = f.dim("q", 3);
  s.v_head_dim = f.dim("v", 3);
  s.softmax_scale = softmax_scale;
  const auto q = f.f("q"), k = f.f("k"), v = f.f("v"), dout = f.f("dout");
  Result r;
  r.out.resize(dout.size());
  r.lse.resize(static_cast<std::size_t>(s.batch * s.heads * s.seq));
  r.dq.resize(q.size());
  r.dk.resize(k.size());
  r.dv.resize(v.size());
  const std::size_t ws = std::max(attention_forward_workspace(s, threads),
                                  attention_backward_workspace(s, threads));
  AlignedBuffer<float> work(ws);
  attention_forward(s, q.data(), k.data(), v.data(), r.out.data(), r.lse.data(), work.data(), ws);
  attention_backward(s, q.data(), k.data(), v.data(), r.out.data(), r.lse.data(), dout.data(),
                     r.dq.data(), r.dk.data(), r.dv.data(), work.data(), ws);
  return r;
}

void check_case(const std::string& name, float softmax_scale = 0.0f) {
  const test::Fixture f(name);
  const Result r = run(f, num_threads(), softmax_scale);
  EXPECT_LT(rel_l2(r.out, f.f("out")), 1e-5) << name;
  EXPECT_LT(rel_l2(r.lse, f.f("lse")), 1e-5) << name;
  EXPECT_LT(rel_l2(r.dq, f.f("dq")), 1e-5) << name;
  EXPECT_LT(rel_l2(r.dk, f.f("dk")), 1e-5) << name;
  EXPECT_LT(rel_l2(r.dv, f.f("dv")), 1e-5) << name;
}

// Sequence lengths 70 / 130 / 80 are not multiples of the 64-row tile.
TEST(KernelAttention, MhaMatchesTorch) { check_case("attention_mha"); }
TEST(KernelAttention, GqaMatchesTorch) { check_case("attention_gqa"); }
TEST(KernelAttention, GqaHeadDim64MatchesTorch) { check_case("attention_gqa_d64"); }
TEST(KernelAttention, MqaExactTileMatchesTorch) { check_case("attention_mqa_tile"); }
TEST(KernelAttention, ShorterThanOneTileMatchesTorch) { check_case("attention_short"); }
// DeepSeek MLA shape: qk head dim 48, v head dim 32, explicit softmax scale.
TEST(KernelAttention, DifferentValueHeadDimAndScaleMatchTorch) {
  check_case("attention_mla_dims", 0.3f);
}

TEST(KernelAttention, DeterministicAcrossThreadCounts) {
  const test::Fixture f("attention_gqa");
  const Result a = run(f, num_threads());
  const int before = num_threads();
  set_num_threads(1);
  const Result b = run(f, 1);
  set_num_threads(before);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
}

TEST(KernelAttention, WorkspaceIsLinearInSequenceLength) {
  // Workspace = per-thread tiles (independent of seq) + seq-linear terms (tile-packed transposed
  // copies of q, k, v, dout and one float per query row). Equal steps in seq add equal amounts.
  auto ws = [](std::int64_t seq, bool backward) {
    AttentionShape s{.batch = 2, .seq = seq, .heads = 8, .groups = 2, .head_dim = 64};
    return static_cast<double>(backward ? attention_backward_workspace(s, 4)
                                        : attention_forward_workspace(s, 4));
  };
  for (bool bwd : {false, true}) {
    EXPECT_EQ(ws(2048, bwd) - ws(1024, bwd), ws(3072, bwd) - ws(2048, bwd));
    EXPECT_EQ(ws(8192, bwd) - ws(4096, bwd), 4 * (ws(2048, bwd) - ws(1024, bwd)));
    // A single [s x s] score matrix per (batch, head) would be 2*8*8192*8192 floats.
    EXPECT_LT(ws(8192, bwd), 2.0 * 8 * 8192 * 8192 / 32);
  }
}

TEST(KernelAttention, FusedQkvStridesAndTooSmallWorkspace) {
  // q, k, v packed per token as [q heads | k groups | v groups] (a fused QKV projection output).
  const test::Fixture f("attention_gqa");
  const std::int64_t B = f.dim("q", 0), S = f.dim("q", 1), H = f.dim("q", 2), G = f.dim("k", 2),
                     D = f.dim("q", 3);
  const std::int64_t ld = (H + 2 * G) * D;
  std::vector<float> qkv(B * S * ld), dqkv(B * S * ld);
  const auto q = f.f("q"), k = f.f("k"), v = f.f("v");
  for (std::int64_t t = 0; t < B * S; ++t)
    for (std::int64_t c = 0; c < H * D; ++c) qkv[t * ld + c] = q[t * H * D + c];
  for (std::int64_t t = 0; t < B * S; ++t)
    for (std::int64_t c = 0; c < G * D; ++c) {
      qkv[t * ld + H * D + c] = k[t * G * D + c];
      qkv[t * ld + (H + G) * D + c] = v[t * G * D + c];
    }
  AttentionShape s{B, S, H, G, D, ld, ld, 0};
  std::vector<float> out(B * S * H * D), lse(B * H * S);
  const std::size_t ws = attention_backward_workspace(s, 1);
  AlignedBuffer<float> work(ws);
  attention_forward(s, qkv.data(), qkv.data() + H * D, qkv.data() + (H + G) * D, out.data(),
                    lse.data(), work.data(), ws);
  EXPECT_LT(rel_l2(out, f.f("out")), 1e-5);
  const auto dout = f.f("dout");
  attention_backward(s, qkv.data(), qkv.data() + H * D, qkv.data() + (H + G) * D, out.data(),
                     lse.data(), dout.data(), dqkv.data(), dqkv.data() + H * D,
                     dqkv.data() + (H + G) * D, work.data(), ws);
  std::vector<float> dk(k.size());
  for (std::int64_t t = 0; t < B * S; ++t)
    for (std::int64_t c = 0; c < G * D; ++c) dk[t * G * D + c] = dqkv[t * ld + H * D + c];
  EXPECT_LT(rel_l2(dk, f.f("dk")), 1e-5);
  EXPECT_THROW(attention_backward(s, qkv.data(), qkv.data(), qkv.data(), out.data(), lse.data(),
                                  dout.data(), dqkv.data(), dqkv.data(), dqkv.data(), work.data(),
                                  100),
               Error);
}

TEST(KernelAttention, RejectsUnsupportedShapes) {
  EXPECT_THROW((AttentionShape{1, 8, 6, 4, 64}.validate()), Error);  // 6 heads, 4 groups
  EXPECT_THROW((AttentionShape{1, 8, 4, 4, 40}.validate()), Error);  // head_dim % 16
  EXPECT_THROW((AttentionShape{1, 0, 4, 4, 64}.validate()), Error);
}

}  // namespace
}  // namespace primus::kernels

namespace primus::kernels {
namespace {

// Naive double-precision causal GQA attention, forward and backward, for shapes the fixtures
// do not cover (head_dim 80 = 64 + a 16-wide tail, head_dim 128 = two 64-wide chunks).
void naive(const AttentionShape& s, const std::vector<float>& q, const std::vector<float>& k,
           const std::vector<float>& v, const std::vector<float>& dout, std::vector<float>& out,
           std::vector<float>& dq, std::vector<float>& dk, std::vector<float>& dv) {
  const std::int64_t B = s.batch, S = s.seq, H = s.heads, G = s.groups, D = s.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  out.assign(q.size(), 0.0f);
  dq.assign(q.size(), 0.0f);
  std::vector<double> dkd(k.size()), dvd(v.size());
  auto qi = [&](std::int64_t b, std::int64_t t, std::int64_t h) { return ((b * S + t) * H + h) * D; };
  auto ki = [&](std::int64_t b, std::int64_t t, std::int64_t g) { return ((b * S + t) * G + g) * D; };
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / (H / G);
      for (std::int64_t i = 0; i < S; ++i) {
        std::vector<double> p(i + 1);
        double mx = -1e300, sum = 0;
        for (std::int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (std::int64_t c = 0; c < D; ++c) dot += double(q[qi(b, i, h) + c]) * k[ki(b, j, g) + c];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        for (auto& x : p) sum += x = std::exp(x - mx);
        for (auto& x : p) x /= sum;
        std::vector<double> o(D, 0.0), dp(i + 1);
        for (std::int64_t j = 0; j <= i; ++j)
          for (std::int64_t c = 0; c < D; ++c) o[c] += p[j] * v[ki(b, j, g) + c];
        double delta = 0;
        for (std::int64_t c = 0; c < D; ++c) {
          out[qi(b, i, h) + c] = static_cast<float>(o[c]);
          delta += o[c] * dout[qi(b, i, h) + c];
        }
        for (std::int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (std::int64_t c = 0; c < D; ++c) {
            d += double(dout[qi(b, i, h) + c]) * v[ki(b, j, g) + c];
            dvd[ki(b, j, g) + c] += p[j] * dout[qi(b, i, h) + c];
          }
          const double ds = p[j] * (d - delta) * scale;
          for (std::int64_t c = 0; c < D; ++c) {
            dq[qi(b, i, h) + c] += static_cast<float>(ds * k[ki(b, j, g) + c]);
            dkd[ki(b, j, g) + c] += ds * q[qi(b, i, h) + c];
          }
        }
      }
    }
  dk.assign(dkd.begin(), dkd.end());
  dv.assign(dvd.begin(), dvd.end());
}

TEST(KernelAttention, WideAndTailHeadDimsMatchNaiveReference) {
  for (std::int64_t D : {80, 128}) {
    const AttentionShape s{.batch = 2, .seq = 130, .heads = 4, .groups = 2, .head_dim = D};
    const std::size_t nq = 2 * 130 * 4 * D, nkv = nq / 2;
    std::vector<float> q(nq), k(nkv), v(nkv), dout(nq);
    Rng rng(7);
    rng.fill_normal(q.data(), nq, 0, 1);
    rng.fill_normal(k.data(), nkv, 0, 1);
    rng.fill_normal(v.data(), nkv, 0, 1);
    rng.fill_normal(dout.data(), nq, 0, 1);
    std::vector<float> out(nq), lse(2 * 4 * 130), dq(nq), dk(nkv), dv(nkv);
    const std::size_t ws = attention_backward_workspace(s, num_threads());
    AlignedBuffer<float> work(ws);
    attention_forward(s, q.data(), k.data(), v.data(), out.data(), lse.data(), work.data(), ws);
    attention_backward(s, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(),
                       dq.data(), dk.data(), dv.data(), work.data(), ws);
    std::vector<float> ro, rdq, rdk, rdv;
    naive(s, q, k, v, dout, ro, rdq, rdk, rdv);
    EXPECT_LT(rel_l2(out, ro), 1e-5) << D;
    EXPECT_LT(rel_l2(dq, rdq), 1e-5) << D;
    EXPECT_LT(rel_l2(dk, rdk), 1e-5) << D;
    EXPECT_LT(rel_l2(dv, rdv), 1e-5) << D;
  }
}

}  // namespace
}  // namespace primus::kernels
