// The GPT model on its own: determinism, recompute equivalence, gradients against finite
// differences (an independent check of every backward pass), bf16 closeness, and clear errors
// for features this engine does not have.
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/gpt_model.hpp"

using namespace primus;
using namespace primus::model;

namespace {

ModelConfig tiny_config(bool qk_norm = false, Norm norm = Norm::RMSNorm, bool swiglu = true, bool bias = false) {
  ModelConfig c;
  c.num_layers = 2;
  c.hidden = 32;
  c.ffn = 48;
  c.heads = 2;
  c.groups = 1;
  c.head_dim = 16;
  c.vocab = 50;
  c.padded_vocab = 64;
  c.seq_length = 8;
  c.norm = norm;
  c.norm_eps = 1e-5f;
  c.swiglu = swiglu;
  c.linear_bias = bias;
  c.qkv_bias = bias;
  c.qk_layernorm = qk_norm;
  c.init_std = 0.2f;  // large enough that every path carries signal
  c.rope.head_dim = c.head_dim;
  c.rope.base = 10000.0f;
  return c;
}

struct Batch {
  std::vector<std::int32_t> tokens, labels;
  std::vector<float> mask;
  MicroBatch view() const { return MicroBatch{tokens.data(), labels.data(), mask.data()}; }
  float mask_sum() const { return std::accumulate(mask.begin(), mask.end(), 0.0f); }
};

Batch make_batch(const ModelConfig& c, std::int64_t batch) {
  Batch b;
  const auto n = static_cast<size_t>(batch * c.seq_length);
  Rng rng(7);
  for (size_t i = 0; i < n; ++i) {
    b.tokens.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(c.vocab))));
    b.labels.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(c.vocab))));
    b.mask.push_back(i % 5 == 3 ? 0.0f : 1.0f);
  }
  return b;
}

double loss_of(GPTModel& m, const Batch& b) { return m.forward_loss(b.view()) / b.mask_sum(); }

TEST(GPTModel, SameSeedSameParametersAndLoss) {
  ModelConfig c = tiny_config();
  GPTModel a(c, 2, {}), b(c, 2, {});
  a.initialize(1234);
  b.initialize(1234);
  ASSERT_EQ(std::memcmp(a.params(), b.params(), static_cast<size_t>(a.num_params()) * 4), 0);
  Batch batch = make_batch(c, 2);
  EXPECT_EQ(a.forward_backward(batch.view(), 1.0f), b.forward_backward(batch.view(), 1.0f));
  EXPECT_EQ(std::memcmp(a.grads(), b.grads(), static_cast<size_t>(a.num_params()) * 4), 0);
  GPTModel other(c, 2, {});
  other.initialize(1235);
  EXPECT_NE(std::memcmp(a.params(), other.params(), static_cast<size_t>(a.num_params()) * 4), 0);
}

TEST(GPTModel, FullRecomputeGivesIdenticalGradients) {
  ModelConfig c = tiny_config(true);
  RecomputePlan all;
  all.layers = {true, true};
  GPTModel keep(c, 2, {}), recompute(c, 2, all);
  keep.initialize(3);
  recompute.initialize(3);
  Batch batch = make_batch(c, 2);
  keep.zero_grads();
  recompute.zero_grads();
  EXPECT_EQ(keep.forward_backward(batch.view(), 0.5f), recompute.forward_backward(batch.view(), 0.5f));
  EXPECT_EQ(std::memcmp(keep.grads(), recompute.grads(), static_cast<size_t>(keep.num_params()) * 4), 0);
  EXPECT_LT(recompute.arena_bytes(), keep.arena_bytes());
}

struct GradCase {
  const char* name;
  bool qk_norm;
  Norm norm;
  bool swiglu;
  bool bias;
  bool tied;
  std::int64_t groups;
};

class GPTModelGradients : public ::testing::TestWithParam<GradCase> {};

TEST_P(GPTModelGradients, MatchFiniteDifferences) {
  const GradCase& g = GetParam();
  ModelConfig c = tiny_config(g.qk_norm, g.norm, g.swiglu, g.bias);
  c.tied_embeddings = g.tied;
  c.groups = g.groups;
  c.rope.rotary_percent = g.norm == Norm::LayerNorm ? 0.5f : 1.0f;
  GPTModel m(c, 2, {});
  m.initialize(11);
  // Biases start at zero; give them values so their paths are exercised.
  for (const auto& p : m.layout().params())
    if (p.name.find(".bias") != std::string::npos) Rng(5, 99).fill_normal(m.params() + p.offset, static_cast<size_t>(p.numel()), 0.0f, 0.1f);
  Batch batch = make_batch(c, 2);
  const float w = 1.0f / batch.mask_sum();
  m.zero_grads();
  m.forward_backward(batch.view(), w);
  std::vector<float> analytic(m.grads(), m.grads() + m.num_params());

  int checked = 0;
  for (const auto& p : m.layout().params()) {
    // A few entries of every parameter, spread over the tensor.
    for (std::int64_t k = 0; k < 3; ++k) {
      const std::int64_t i = p.offset + (k * 7919 + 13) % p.numel();
      float* x = m.params() + i;
      const float saved = *x;
      const float eps = 1e-2f;
      *x = saved + eps;
      const double up = loss_of(m, batch);
      *x = saved - eps;
      const double down = loss_of(m, batch);
      *x = saved;
      const double numeric = (up - down) / (2.0 * eps);
      const double exact = analytic[static_cast<size_t>(i)];
      EXPECT_NEAR(exact, numeric, 2e-3 + 2e-2 * std::abs(numeric)) << p.name << "[" << i - p.offset << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, GPTModelGradients,
    ::testing::Values(GradCase{"mqa_rmsnorm_swiglu", false, Norm::RMSNorm, true, false, false, 1},
                      GradCase{"mha_tied", false, Norm::RMSNorm, true, false, true, 2},
                      GradCase{"qk_norm", true, Norm::RMSNorm, true, false, false, 1},
                      GradCase{"layernorm_gelu_bias_partial_rope", true, Norm::LayerNorm, false, true, false, 2}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(GPTModel, Bf16LossIsCloseToFp32) {
  ModelConfig c = tiny_config();
  GPTModel fp32(c, 2, {});
  c.bf16 = true;
  GPTModel bf16m(c, 2, {});
  fp32.initialize(21);
  bf16m.initialize(21);
  Batch batch = make_batch(c, 2);
  const double a = loss_of(fp32, batch), b = loss_of(bf16m, batch);
  EXPECT_NEAR(a, b, 1e-2 * std::abs(a));
  EXPECT_NE(a, b);  // really computed differently
}

TEST(GPTModel, RejectsFeaturesItDoesNotHave) {
  auto resolve = [](const char* file, std::vector<std::string> cli) {
    return config::resolve(config::ResolveOptions{std::string(PRIMUS_SOURCE_DIR) + "/examples/megatron/configs/" + file,
                                                  std::move(cli), 1});
  };
  auto expect_error = [](const config::ResolvedConfig& r, const char* what) {
    try {
      ModelConfig::from_args(r.args, 32000);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(resolve("tiny_mixtral-pretrain.yaml", {"--moe-router-load-balancing-type", "sinkhorn"}),
               "moe_router_load_balancing_type 'sinkhorn'");
  expect_error(resolve("tiny_mixtral-pretrain.yaml", {"--moe-input-jitter-eps", "0.01"}), "moe_input_jitter_eps");
  expect_error(resolve("tiny_mixtral-pretrain.yaml", {"--moe-token-dispatcher-type", "flex"}),
               "moe_token_dispatcher_type 'flex'");
  EXPECT_NO_THROW(ModelConfig::from_args(resolve("tiny_mixtral-pretrain.yaml", {}).args, 32000));
  EXPECT_NO_THROW(
      ModelConfig::from_args(resolve("tiny_mixtral-pretrain.yaml", {"--moe-token-dispatcher-type", "alltoall"}).args, 32000));
  EXPECT_NO_THROW(ModelConfig::from_args(resolve("tiny_deepseek-pretrain.yaml", {}).args, 32000));
  EXPECT_NO_THROW(ModelConfig::from_args(resolve("tiny_qwen3-pretrain.yaml", {}).args, 32000));
  EXPECT_NO_THROW(ModelConfig::from_args(resolve("tiny_qwen3_moe-pretrain.yaml", {}).args, 32000));
  expect_error(resolve("tiny_llama-pretrain.yaml", {"--hidden-dropout", "0.1"}), "dropout");
  expect_error(resolve("tiny_llama-pretrain.yaml", {"--position-embedding-type", "learned_absolute"}),
               "position_embedding_type 'learned_absolute'");
  EXPECT_NO_THROW(ModelConfig::from_args(resolve("tiny_llama-pretrain.yaml", {}).args, 32000));
}

}  // namespace
