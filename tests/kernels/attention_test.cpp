#include "kernels/attention.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/aligned.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "fixture.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

Result run(const test::Fixture& f, int threads) {
  AttentionShape s;
  s.batch = f.dim("q", 0);
  s.seq = f.dim("q", 1);
  s.heads = f.dim("q", 2);
  s.groups = f.dim("k", 2);
  s.head_dim = f.dim("q", 3);
  const auto q = f.f("q"), k = f.f("k"), v = f.f("v"), dout = f.f("dout");
  Result r;
  r.out.resize(q.size());
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

void check_case(const std::string& name) {
  const test::Fixture f(name);
  const Result r = run(f, num_threads());
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
