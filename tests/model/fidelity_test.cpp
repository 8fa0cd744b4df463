// Fidelity against the independent PyTorch reference (tools/reference/model/): the same weights
// and batch give the same loss, logits, every parameter gradient and 10 AdamW steps.
// Tolerances (issue: engine): fp32 loss ≤ 1e-5 relative, each gradient ≤ 1e-4 relative L2,
// step losses ≤ 1e-5 relative; bf16 loss ≤ 1e-2 relative (and gradients ≤ 5e-2, which is what
// tells a real bf16 path from an fp32 one). The grad_accum case checks Megatron's objective over
// several micro-batches (each micro-batch's token mean, averaged).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/safetensors_reader.hpp"
#include "kernels/grad_norm.hpp"
#include "model/gpt_model.hpp"
#include "model/weights_io.hpp"
#include "train/optimizer.hpp"

using namespace primus;
using namespace primus::model;

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(PRIMUS_SOURCE_DIR) / "tests/fixtures/model";

ModelConfig config_from(const nlohmann::json& j) {
  ModelConfig c;
  c.num_layers = j["num_layers"];
  c.hidden = j["hidden_size"];
  c.ffn = j["ffn_hidden_size"];
  c.heads = j["num_attention_heads"];
  c.groups = j.value("group_query_attention", false) ? j["num_query_groups"].get<std::int64_t>() : c.heads;
  c.head_dim = j["kv_channels"];
  c.vocab = j["vocab_size"];
  c.padded_vocab = j["padded_vocab_size"];
  c.seq_length = j["seq_length"];
  c.norm = j["normalization"] == "RMSNorm" ? Norm::RMSNorm : Norm::LayerNorm;
  c.norm_eps = j["norm_epsilon"];
  c.swiglu = j["swiglu"];
  c.linear_bias = j["add_bias_linear"];
  c.qkv_bias = j["add_qkv_bias"].get<bool>() || c.linear_bias;
  c.qk_layernorm = j["qk_layernorm"];
  c.tied_embeddings = !j["untie_embeddings_and_output_weights"].get<bool>();
  c.init_std = j["init_method_std"];
  c.bf16 = j["bf16"];
  c.rope.head_dim = c.head_dim;
  c.rope.base = j["rotary_base"];
  c.rope.rotary_percent = j["rotary_percent"];
  c.rope.llama3_scaling = j["use_rope_scaling"];
  c.rope.scaling_factor = j["rope_scaling_factor"];
  return c;
}

double rel_l2(const float* a, const float* b, std::int64_t n) {
  double diff = 0, ref = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
}

struct Fixture {
  nlohmann::json json;
  ModelConfig config;
  std::vector<std::int32_t> tokens, labels;
  std::vector<float> mask;
  std::int64_t batch;

  explicit Fixture(const std::string& name) {
    std::ifstream(kFixtures / name / "config.json") >> json;
    config = config_from(json);
    io::SafetensorsReader b(kFixtures / name / "batch.safetensors");
    tokens = b.read_i32("tokens");
    labels = b.read_i32("labels");
    mask = b.read_f32("loss_mask");
    batch = json["micro_batch_size"];
  }
  std::int64_t micro_batches() const { return json["global_batch_size"].get<std::int64_t>() / batch; }
  MicroBatch view(std::int64_t m = 0) const {
    const std::int64_t o = m * batch * config.seq_length;
    return MicroBatch{tokens.data() + o, labels.data() + o, mask.data() + o};
  }
  float mask_sum(std::int64_t m) const {
    const std::int64_t n = batch * config.seq_length;
    return std::accumulate(mask.begin() + m * n, mask.begin() + (m + 1) * n, 0.0f);
  }
  // Megatron's default objective: the masked token mean of each micro-batch, averaged over the
  // micro-batches. Returns it and accumulates its gradient.
  double forward_backward(GPTModel& m) const {
    const std::int64_t M = micro_batches();
    double loss = 0;
    for (std::int64_t i = 0; i < M; ++i) {
      const float w = 1.0f / (mask_sum(i) * static_cast<float>(M));
      loss += m.forward_backward(view(i), w) * w;
    }
    return loss;
  }
  std::unique_ptr<GPTModel> model() const {
    auto m = std::make_unique<GPTModel>(config, batch, RecomputePlan{});
    return m;
  }
};

// The cases of the dense Llama-family model. The MoE / MLA / MTP fixtures beside them
// (tools/reference/model/make_decoder_fixtures.py) need those blocks and are read by their own
// tests; a dense case among them (qwen3) runs here.
bool dense_case(const std::filesystem::path& dir) {
  nlohmann::json j;
  std::ifstream(dir / "config.json") >> j;
  const auto unset = [&](const char* key) { return !j.contains(key) || j[key].is_null(); };
  return unset("num_experts") && unset("mtp_num_layers") && !j.value("multi_latent_attention", false);
}

std::vector<std::string> cases() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(kFixtures))
    if (e.is_directory() && dense_case(e.path())) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class Fidelity : public ::testing::TestWithParam<std::string> {};

TEST_P(Fidelity, LossLogitsAndGradientsMatchPyTorch) {
  const std::string name = GetParam();
  Fixture f(name);
  auto m = f.model();
  load_parameters(*m, kFixtures / name / "weights.safetensors");
  io::SafetensorsReader expected(kFixtures / name / "expected.safetensors");
  const bool bf16 = f.config.bf16;
  const double loss_tol = bf16 ? 1e-2 : 1e-5, grad_tol = bf16 ? 5e-2 : 1e-4;

  const std::int64_t M = f.micro_batches(), per_micro = f.batch * f.config.seq_length * f.config.padded_vocab;
  std::vector<float> logits(static_cast<size_t>(M * per_micro));
  double eval_loss = 0;
  for (std::int64_t i = 0; i < M; ++i)
    eval_loss += m->forward_loss(f.view(i), logits.data() + i * per_micro) / f.mask_sum(i) / static_cast<double>(M);
  const double want = expected.read_f32("loss")[0];
  EXPECT_NEAR(eval_loss, want, loss_tol * std::abs(want)) << name;
  if (expected.contains("logits")) {
    // Padded columns are not part of the model's distribution; compare the real vocabulary.
    auto ref = expected.read_f32("logits");
    std::vector<float> ours, theirs;
    for (size_t t = 0; t < ref.size() / static_cast<size_t>(f.config.padded_vocab); ++t)
      for (std::int64_t v = 0; v < f.config.vocab; ++v) {
        ours.push_back(logits[t * f.config.padded_vocab + v]);
        theirs.push_back(ref[t * f.config.padded_vocab + v]);
      }
    EXPECT_LT(rel_l2(ours.data(), theirs.data(), static_cast<std::int64_t>(ours.size())), bf16 ? 1e-2 : 1e-5) << name;
  }

  m->zero_grads();
  const double train_loss = f.forward_backward(*m);
  EXPECT_NEAR(train_loss, want, loss_tol * std::abs(want)) << name;
  std::vector<float> ref_grads(static_cast<size_t>(m->num_params()));
  load_parameter_buffer(*m, kFixtures / name / "expected.safetensors", "grad.", ref_grads.data(), true);
  for (const auto& p : m->layout().params()) {
    const double err = rel_l2(m->grads() + p.offset, ref_grads.data() + p.offset, p.numel());
    EXPECT_LT(err, grad_tol) << name << ": " << p.name;
  }
}

TEST_P(Fidelity, TenAdamWStepsMatchPyTorch) {
  const std::string name = GetParam();
  Fixture f(name);
  auto m = f.model();
  load_parameters(*m, kFixtures / name / "weights.safetensors");
  io::SafetensorsReader expected(kFixtures / name / "expected.safetensors");
  auto want = expected.read_f32("step_losses");
  auto want_norms = expected.read_f32("step_grad_norms");
  const auto& j = f.json;
  train::OptimizerConfig oc;
  oc.name = "adam";
  oc.beta1 = j["adam_beta1"];
  oc.beta2 = j["adam_beta2"];
  oc.eps = j["adam_eps"];
  parallel::Communicator one_process;
  train::Optimizer opt(oc, *m, train::whole_parameter_ranges(*m), one_process);
  const double tol = f.config.bf16 ? 1e-2 : 1e-5;
  for (size_t step = 0; step < want.size(); ++step) {
    m->zero_grads();
    const double loss = f.forward_backward(*m);
    EXPECT_NEAR(loss, want[step], tol * std::abs(want[step])) << name << " step " << step;
    const double norm = opt.clip_grad_norm(j["clip_grad"].get<double>());
    EXPECT_NEAR(norm, want_norms[step], (f.config.bf16 ? 5e-2 : 1e-4) * want_norms[step]) << name << " step " << step;
    opt.step(j["lr"].get<double>(), j["weight_decay"].get<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Fidelity, ::testing::ValuesIn(cases()), [](const auto& info) { return info.param; });

TEST(FidelityCases, CoverTheRequiredArchitectures) {
  auto c = cases();
  for (const char* need : {"mha", "gqa", "tied", "qkv_bias_qk_norm", "rope_scaling", "bf16", "grad_accum", "qwen3"})
    EXPECT_NE(std::find(c.begin(), c.end(), need), c.end()) << need;
}

}  // namespace
