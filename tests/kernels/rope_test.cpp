#include "kernels/rope.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "fixture.hpp"

namespace primus::kernels {
namespace {

using test::rel_l2;

void check(const std::string& name, const RopeConfig& cfg) {
  const test::Fixture f(name);
  const std::int64_t B = f.dim("x", 0), S = f.dim("x", 1), H = f.dim("x", 2);
  std::vector<float> inv(cfg.rot_dim() / 2);
  rope_inv_freq(cfg, inv.data());
  EXPECT_LT(rel_l2(inv, f.f("inv_freq")), 1e-6) << name;
  const std::int64_t table_seq = S + 5;  // a table longer than the sequence is fine
  std::vector<float> table(rope_table_size(cfg, table_seq));
  rope_tables(cfg, table_seq, table.data());
  auto x = f.f("x");
  rope_forward(x.data(), table.data(), B, S, H, H * cfg.head_dim, cfg, table_seq);
  EXPECT_LT(rel_l2(x, f.f("y")), 1e-6) << name;
  auto dy = f.f("dy");
  rope_backward(dy.data(), table.data(), B, S, H, H * cfg.head_dim, cfg, table_seq);
  EXPECT_LT(rel_l2(dy, f.f("dx")), 1e-6) << name;
}

TEST(KernelRope, FullRotaryMatchesTorch) {
  RopeConfig cfg;
  cfg.head_dim = 32;
  check("rope_full", cfg);
}

TEST(KernelRope, PartialRotaryWithLlama31ScalingMatchesTorch) {
  RopeConfig cfg;
  cfg.head_dim = 64;
  cfg.rotary_percent = 0.5f;
  cfg.base = 500000.0f;
  cfg.llama3_scaling = true;
  check("rope_llama3_partial", cfg);
}

TEST(KernelRope, RejectsBadConfigs) {
  RopeConfig cfg;
  cfg.head_dim = 10;
  cfg.rotary_percent = 0.3f;  // 3 channels: odd
  EXPECT_THROW(cfg.rot_dim(), Error);
  cfg.rotary_percent = 0.0f;
  EXPECT_THROW(cfg.rot_dim(), Error);
  RopeConfig ok;
  ok.head_dim = 16;
  std::vector<float> table(rope_table_size(ok, 4)), x(16 * 8);
  rope_tables(ok, 4, table.data());
  EXPECT_THROW(rope_forward(x.data(), table.data(), 1, 8, 1, 16, ok, 4), Error);  // seq > table
}

}  // namespace
}  // namespace primus::kernels
