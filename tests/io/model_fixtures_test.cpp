// The fidelity fixtures (tests/fixtures/model/<case>/, written by
// tools/reference/model/make_model_fixtures.py) are self-consistent: they load, the parameter
// names and shapes are Megatron-Core's for the case's config.json (listed here independently
// of the Python script), every parameter has its gradient, and the batch and expected tensors
// have the documented shapes. The model tests can then rely on the files and report only
// engine differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_reader.hpp"

namespace primus::io {
namespace {

using Shape = std::vector<std::int64_t>;

const std::string kDir = std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/model/";

nlohmann::json read_config(const std::string& name) {
  std::ifstream in(kDir + name + "/config.json");
  EXPECT_TRUE(in) << name;
  return nlohmann::json::parse(in);
}

// Megatron-Core parameter names and shapes for a config (the documented contract).
std::map<std::string, Shape> expected_parameters(const nlohmann::json& c) {
  const std::int64_t h = c["hidden_size"], n = c["num_attention_heads"],
                     g = c["num_query_groups"], d = c["kv_channels"], ffn = c["ffn_hidden_size"],
                     v = c["padded_vocab_size"];
  const bool layer_norm = c["normalization"] == "LayerNorm";
  const bool bias = c["add_bias_linear"], qkv_bias = bias || c["add_qkv_bias"].get<bool>();
  std::map<std::string, Shape> out;
  const auto norm = [&](const std::string& prefix, std::int64_t width) {
    out[prefix + ".weight"] = {width};
    if (layer_norm) out[prefix + ".bias"] = {width};
  };
  out["embedding.word_embeddings.weight"] = {v, h};
  for (int i = 0; i < c["num_layers"].get<int>(); ++i) {
    const std::string p = "decoder.layers." + std::to_string(i) + ".";
    norm(p + "input_layernorm", h);
    out[p + "self_attention.linear_qkv.weight"] = {(n + 2 * g) * d, h};
    if (qkv_bias) out[p + "self_attention.linear_qkv.bias"] = {(n + 2 * g) * d};
    if (c["qk_layernorm"].get<bool>()) {
      norm(p + "self_attention.q_layernorm", d);
      norm(p + "self_attention.k_layernorm", d);
    }
    out[p + "self_attention.linear_proj.weight"] = {h, n * d};
    if (bias) out[p + "self_attention.linear_proj.bias"] = {h};
    norm(p + "pre_mlp_layernorm", h);
    const std::int64_t fc1 = c["swiglu"].get<bool>() ? 2 * ffn : ffn;
    out[p + "mlp.linear_fc1.weight"] = {fc1, h};
    if (bias) out[p + "mlp.linear_fc1.bias"] = {fc1};
    out[p + "mlp.linear_fc2.weight"] = {h, ffn};
    if (bias) out[p + "mlp.linear_fc2.bias"] = {h};
  }
  norm("decoder.final_layernorm", h);
  if (c["untie_embeddings_and_output_weights"].get<bool>()) out["output_layer.weight"] = {v, h};
  return out;
}

class ModelFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelFixture, FilesAreConsistentWithConfig) {
  const std::string name = GetParam();
  const nlohmann::json c = read_config(name);
  // The batch file holds the global batch; micro-batch k is rows [k*m, (k+1)*m).
  const std::int64_t b = c["global_batch_size"], m = c["micro_batch_size"],
                     s = c["seq_length"], h = c["hidden_size"], steps = c["steps"];
  SafetensorsReader weights(kDir + name + "/weights.safetensors");
  SafetensorsReader batch(kDir + name + "/batch.safetensors");
  SafetensorsReader expected(kDir + name + "/expected.safetensors");

  const auto params = expected_parameters(c);
  std::vector<std::string> want_names;
  for (const auto& [param, shape] : params) {
    want_names.push_back(param);
    ASSERT_TRUE(weights.contains(param)) << name << ": " << param;
    EXPECT_EQ(weights.entry(param).dtype, StDType::F32) << param;
    EXPECT_EQ(weights.entry(param).shape, shape) << param;
    ASSERT_TRUE(expected.contains("grad." + param)) << name << ": grad." << param;
    EXPECT_EQ(expected.entry("grad." + param).shape, shape) << param;
    for (float x : weights.read_f32(param)) ASSERT_TRUE(std::isfinite(x)) << param;
  }
  EXPECT_EQ(weights.names(), want_names) << name << ": unexpected extra parameters";

  EXPECT_EQ(batch.entry("tokens").dtype, StDType::I32);
  EXPECT_EQ(batch.entry("tokens").shape, (Shape{b, s}));
  EXPECT_EQ(batch.entry("labels").dtype, StDType::I32);
  EXPECT_EQ(batch.entry("labels").shape, (Shape{b, s}));
  EXPECT_EQ(batch.entry("loss_mask").dtype, StDType::F32);
  EXPECT_EQ(batch.entry("loss_mask").shape, (Shape{b, s}));
  const std::int32_t vocab = c["vocab_size"];
  for (std::int32_t t : batch.read_i32("tokens")) EXPECT_TRUE(t >= 0 && t < vocab);
  for (std::int32_t t : batch.read_i32("labels")) EXPECT_TRUE(t >= 0 && t < vocab);
  float masked = 0, kept = 0;
  for (float m : batch.read_f32("loss_mask")) (m == 0.0f ? masked : kept) += 1;
  EXPECT_GT(masked, 0) << "the mask must exercise zeros";
  EXPECT_GT(kept, 0);

  EXPECT_TRUE(expected.entry("loss").shape.empty());
  EXPECT_EQ(expected.entry("losses").shape, (Shape{b, s}));
  EXPECT_EQ(expected.entry("logits").shape, (Shape{b, s, c["padded_vocab_size"].get<std::int64_t>()}));
  EXPECT_EQ(expected.entry("act.embedding").shape, (Shape{b, s, h}));
  EXPECT_EQ(expected.entry("act.decoder.final_layernorm").shape, (Shape{b, s, h}));
  for (int i = 0; i < c["num_layers"].get<int>(); ++i)
    EXPECT_EQ(expected.entry("act.decoder.layers." + std::to_string(i)).shape, (Shape{b, s, h}));
  EXPECT_EQ(expected.entry("step_losses").shape, (Shape{steps}));
  EXPECT_EQ(expected.entry("step_grad_norms").shape, (Shape{steps}));

  // loss is the mean over micro-batches of each one's masked mean of the per-token losses,
  // and the first training step sees it.
  const float loss = expected.read_f32("loss")[0];
  const auto losses = expected.read_f32("losses");
  const auto mask = batch.read_f32("loss_mask");
  ASSERT_EQ(b % m, 0);
  double total = 0;
  for (std::int64_t k = 0; k < b / m; ++k) {
    double sum = 0, count = 0;
    for (std::int64_t i = k * m * s; i < (k + 1) * m * s; ++i) {
      sum += static_cast<double>(losses[static_cast<std::size_t>(i)]) * mask[static_cast<std::size_t>(i)];
      count += mask[static_cast<std::size_t>(i)];
    }
    ASSERT_GT(count, 0) << "micro-batch " << k << " has no unmasked token";
    total += sum / count;
  }
  EXPECT_NEAR(total / static_cast<double>(b / m), loss, 1e-6 * loss);
  EXPECT_EQ(expected.read_f32("step_losses")[0], loss);
  // Training on one batch lowers the loss.
  EXPECT_LT(expected.read_f32("step_losses").back(), 0.8f * loss);

  // Padded output rows take no gradient (their logits are outside the softmax), and the
  // embedding rows of tokens that never occur take none either.
  const auto out_name =
      c["untie_embeddings_and_output_weights"].get<bool>() ? "grad.output_layer.weight"
                                                           : "grad.embedding.word_embeddings.weight";
  const auto out_grad = expected.read_f32(out_name);
  for (std::int64_t i = static_cast<std::int64_t>(vocab) * h; i < static_cast<std::int64_t>(out_grad.size()); ++i)
    ASSERT_EQ(out_grad[i], 0.0f) << out_name << " element " << i;
}

INSTANTIATE_TEST_SUITE_P(Cases, ModelFixture,
                         ::testing::Values("mha", "gqa", "tied", "qkv_bias_qk_norm",
                                           "rope_scaling", "layernorm_gelu_bias", "bf16",
                                           "grad_accum"));

}  // namespace
}  // namespace primus::io
