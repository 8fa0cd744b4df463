// Fidelity of the MoE, MLA and MTP blocks against the independent PyTorch reference
// (tools/reference/model/decoder_reference.py; fixtures tests/fixtures/model/<case>/, contract in
// tools/reference/model/README.md). Each case's config.json goes through the real configuration
// path (resolved as a flat experiment, then ModelConfig::from_args), the weights (and expert
// biases) are loaded, and the engine must give: the same routing (expert ids exactly, their
// probabilities, which pairs the capacity kept, tokens per expert), the auxiliary losses as
// attached, the MTP losses, the logged metrics, the objective and every gradient, and 10 AdamW
// steps with the expert-bias updates (objective, grad norm, bias trajectory).
// Tolerances (issue "Model blocks"): fp32 loss 1e-5 relative, gradients 1e-4 relative L2; bf16 loss
// 1e-2, gradients 5e-2.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/resolved_config.hpp"
#include "io/safetensors_reader.hpp"
#include "kernels/grad_norm.hpp"
#include "model/gpt_model.hpp"
#include "model/weights_io.hpp"
#include "train/auxiliary_losses.hpp"
#include "train/optimizer.hpp"

using namespace primus;
using namespace primus::model;

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(PRIMUS_SOURCE_DIR) / "tests/fixtures/model";

bool is_decoder_case(const nlohmann::json& j) {
  auto set = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  return set("num_experts") || set("mtp_num_layers") || j.value("multi_latent_attention", false);
}

std::vector<std::string> cases() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(kFixtures)) {
    if (!e.is_directory()) continue;
    nlohmann::json j;
    std::ifstream(e.path() / "config.json") >> j;
    if (is_decoder_case(j)) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double rel_l2(const float* a, const float* b, std::int64_t n) {
  double diff = 0, ref = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
}

// The case's config.json through the configuration system: written as a flat experiment
// (JSON is YAML) and resolved on one process.
config::ResolvedConfig resolve_case(const std::string& name, const nlohmann::json& j) {
  const auto dir = std::filesystem::temp_directory_path() / ("primus_decoder_fidelity_" + name);
  std::filesystem::create_directories(dir);
  nlohmann::json flat = j;
  flat.erase("steps");
  {
    std::ofstream out(dir / "experiment.yaml");
    for (auto it = flat.begin(); it != flat.end(); ++it) out << it.key() << ": " << it.value().dump() << "\n";
  }
  auto r = config::resolve(config::ResolveOptions{(dir / "experiment.yaml").string(), {}, 1});
  std::filesystem::remove_all(dir);
  return r;
}

struct Case {
  std::string name;
  nlohmann::json json;
  config::ResolvedConfig resolved;
  ModelConfig config;
  std::vector<std::int32_t> tokens, labels;
  std::vector<float> mask;
  std::int64_t mbs, M;

  explicit Case(const std::string& n) : name(n), resolved(load(n, json)) {
    config = ModelConfig::from_args(resolved.args, json["vocab_size"].get<std::int64_t>());
    io::SafetensorsReader b(kFixtures / name / "batch.safetensors");
    tokens = b.read_i32("tokens");
    labels = b.read_i32("labels");
    mask = b.read_f32("loss_mask");
    mbs = json["micro_batch_size"];
    M = json["global_batch_size"].get<std::int64_t>() / mbs;
  }
  static config::ResolvedConfig load(const std::string& n, nlohmann::json& j) {
    std::ifstream(kFixtures / n / "config.json") >> j;
    return resolve_case(n, j);
  }
  MicroBatch view(std::int64_t m) const {
    const std::int64_t o = m * mbs * config.seq_length;
    return MicroBatch{tokens.data() + o, labels.data() + o, mask.data() + o};
  }
  double mask_sum(std::int64_t m) const {
    const std::int64_t n = mbs * config.seq_length;
    return std::accumulate(mask.begin() + m * n, mask.begin() + (m + 1) * n, 0.0);
  }
};

// One step's forward and backward over the case's micro-batches, as the trainer runs it.
// Returns the objective; per micro-batch, each MoE layer's attached aux losses (by kind name)
// and each MTP depth's loss.
struct StepResult {
  double objective = 0.0, lm_mean = 0.0;  // lm_mean: the mean over micro-batches of each one's masked mean
  std::map<std::string, std::vector<double>> aux;  // "L.kind" -> [M]
  std::vector<std::vector<double>> mtp;            // [M][D]
};

StepResult step(GPTModel& m, const Case& c) {
  StepResult r;
  const MoeConfig& moe = c.config.moe;
  const char* kind_names[3] = {"aux_loss", "seq_aux_loss", "global_aux_loss"};
  m.take_mtp_losses();
  std::vector<double> mtp_before(static_cast<size_t>(c.config.mtp_layers), 0.0);
  for (std::int64_t i = 0; i < c.M; ++i) {
    std::vector<MoeMetrics> before;
    for (auto* rt : m.routers()) before.push_back(rt->metrics());
    MicroBatchState state;
    state.aux_loss_scale = static_cast<float>(1.0 / static_cast<double>(c.M));
    const double ms = c.mask_sum(i);
    const auto w = static_cast<float>(1.0 / (ms * static_cast<double>(c.M)));
    const double lm = m.forward_backward(c.view(i), w, state);
    r.lm_mean += lm / ms / static_cast<double>(c.M);
    r.objective += lm / ms / static_cast<double>(c.M);
    for (size_t l = 0; l < m.routers().size(); ++l) {
      const MoeMetrics& now = m.routers()[l]->metrics();
      const std::string layer = m.moe_layers()[l].first;
      for (const auto& [kind, coeff] : moe.balancing) {
        const double v = coeff * (now.balancing[static_cast<size_t>(kind)] - before[l].balancing[static_cast<size_t>(kind)]);
        r.aux[layer + "." + kind_names[static_cast<int>(kind)]].push_back(v);
        r.objective += v / static_cast<double>(c.M);
      }
      if (moe.z_loss_coeff > 0.0f) {
        const double z = moe.z_loss_coeff * (now.z_loss - before[l].z_loss);
        r.aux[layer + ".z_loss"].push_back(z);
        r.objective += z / static_cast<double>(c.M);
      }
    }
    // The stage keeps running sums over the step: this micro-batch's losses are the change.
    const std::vector<double>& now = m.mtp_losses();
    std::vector<double> mtp(now.size());
    for (size_t k = 0; k < now.size(); ++k) {
      mtp[k] = now[k] - mtp_before[k];
      mtp_before[k] = now[k];
    }
    for (double l : mtp) r.objective += c.config.mtp_loss_scaling_factor / static_cast<double>(mtp.size()) * l / static_cast<double>(c.M);
    r.mtp.push_back(mtp);
  }
  return r;
}

class DecoderFidelity : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderFidelity, RoutingLossesAndGradientsMatchPyTorch) {
  Case c(GetParam());
  GPTModel m(c.config, c.mbs, {});
  load_parameters(m, kFixtures / c.name / "weights.safetensors");
  io::SafetensorsReader expected(kFixtures / c.name / "expected.safetensors");
  const bool bf16 = c.config.bf16;
  const double loss_tol = bf16 ? 1e-2 : 1e-5, grad_tol = bf16 ? 5e-2 : 1e-4;

  std::vector<MoeLayer::RoutingRecord> records(m.moe_layers().size());
  for (size_t l = 0; l < records.size(); ++l) m.moe_layers()[l].second->record_routing(&records[l]);
  m.zero_grads();
  const StepResult r = step(m, c);
  for (size_t l = 0; l < records.size(); ++l) m.moe_layers()[l].second->record_routing(nullptr);

  const double want = expected.read_f32("loss")[0];
  EXPECT_NEAR(r.objective, want, loss_tol * std::abs(want)) << "objective";
  const double want_lm = expected.read_f32("lm_loss")[0];
  EXPECT_NEAR(r.lm_mean, want_lm, loss_tol * std::abs(want_lm)) << "lm loss";

  // Routing of every MoE layer (decoder and MTP), over the global batch.
  for (size_t l = 0; l < records.size(); ++l) {
    const std::string layer = m.moe_layers()[l].first;
    const auto ids = expected.read_i32("routing." + layer);
    const auto probs = expected.read_f32("probs." + layer);
    ASSERT_EQ(records[l].indices.size(), ids.size()) << layer;
    if (!bf16) {
      EXPECT_EQ(records[l].indices, ids) << layer << ": expert choices";
    }
    EXPECT_LT(rel_l2(records[l].probs.data(), probs.data(), static_cast<std::int64_t>(probs.size())), loss_tol * 10)
        << layer << ": probabilities";
    if (expected.contains("kept." + layer)) {
      EXPECT_EQ(records[l].kept, expected.read_i32("kept." + layer)) << layer;
    }
    const auto counts = expected.read_i32("tokens_per_expert." + layer);
    const auto& ours = m.routers()[l]->step_token_counts();
    for (size_t e = 0; e < counts.size(); ++e) EXPECT_EQ(ours[e], counts[e]) << layer << " expert " << e;
    for (const auto& [key, values] : r.aux) {
      if (key.rfind(layer + ".", 0) != 0) continue;
      const auto want_aux = expected.read_f32("aux." + key);
      ASSERT_EQ(want_aux.size(), values.size()) << key;
      for (size_t i = 0; i < values.size(); ++i)
        EXPECT_NEAR(values[i], want_aux[i], loss_tol * std::abs(want_aux[i]) + 1e-9) << key << "[" << i << "]";
    }
  }
  for (std::int64_t k = 1; k <= c.config.mtp_layers; ++k) {
    const auto want_mtp = expected.read_f32(fmt::format("mtp_loss.{}", k));
    for (std::int64_t i = 0; i < c.M; ++i)
      EXPECT_NEAR(r.mtp[static_cast<size_t>(i)][static_cast<size_t>(k - 1)], want_mtp[static_cast<size_t>(i)],
                  loss_tol * want_mtp[static_cast<size_t>(i)])
          << "mtp_loss." << k;
  }

  // The logged metrics, as the iteration line prints them.
  const auto names = train::auxiliary_loss_names(c.resolved.args);
  const auto values = train::finish_auxiliary_losses(m, c.resolved.args, c.M);
  for (size_t i = 0; i < names.size(); ++i) {
    std::string key = "log." + names[i];
    std::replace(key.begin(), key.end(), ' ', '_');
    if (!expected.contains(key)) {
      EXPECT_EQ(values[i], 0.0) << key << " is not in the reference's log";
      continue;
    }
    const double v = expected.read_f32(key)[0];
    EXPECT_NEAR(values[i], v, loss_tol * std::abs(v) + 1e-12) << key;
  }

  std::vector<float> ref(static_cast<size_t>(m.num_params()));
  load_parameter_buffer(m, kFixtures / c.name / "expected.safetensors", "grad.", ref.data(), true);
  for (const auto& p : m.layout().params())
    EXPECT_LT(rel_l2(m.grads() + p.offset, ref.data() + p.offset, p.numel()), grad_tol) << p.name;
}

TEST_P(DecoderFidelity, TenAdamWStepsWithExpertBiasMatchPyTorch) {
  Case c(GetParam());
  GPTModel m(c.config, c.mbs, {});
  load_parameters(m, kFixtures / c.name / "weights.safetensors");
  io::SafetensorsReader expected(kFixtures / c.name / "expected.safetensors");
  const auto want = expected.read_f32("step_losses");
  const auto want_norms = expected.read_f32("step_grad_norms");
  const auto& j = c.json;
  train::OptimizerConfig oc;
  oc.name = "adam";
  oc.beta1 = j["adam_beta1"];
  oc.beta2 = j["adam_beta2"];
  oc.eps = j["adam_eps"];
  parallel::Communicator one_process;
  train::Optimizer opt(oc, m, train::whole_parameter_ranges(m), one_process);
  const bool bf16 = c.config.bf16;
  const double tol = bf16 ? 1e-2 : 1e-5;
  std::map<std::string, std::vector<float>> bias_traj;
  for (const auto& b : m.buffers()) {
    const std::string layer = b.name.substr(0, b.name.size() - std::string(".mlp.router.expert_bias").size());
    bias_traj[b.name] = expected.read_f32("expert_bias." + layer);
  }
  for (size_t s = 0; s < want.size(); ++s) {
    m.zero_grads();
    const StepResult r = step(m, c);
    EXPECT_NEAR(r.objective, want[s], tol * std::abs(want[s])) << "step " << s;
    const double norm = opt.clip_grad_norm(j["clip_grad"].get<double>());
    EXPECT_NEAR(norm, want_norms[s], (bf16 ? 5e-2 : 1e-4) * want_norms[s]) << "step " << s;
    opt.step(j["lr"].get<double>(), j["weight_decay"].get<double>());
    train::finish_auxiliary_losses(m, c.resolved.args, c.M);  // expert-bias update, counters reset
    for (const auto& b : m.buffers()) {
      const auto& traj = bias_traj[b.name];
      const size_t E = b.values->size();
      for (size_t e = 0; e < E; ++e)
        EXPECT_NEAR((*b.values)[e], traj[(s + 1) * E + e], 1e-6) << b.name << " after step " << s;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, DecoderFidelity, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param; });

TEST(DecoderFidelityCases, CoverTheRequiredFamilies) {
  auto c = cases();
  for (const char* need : {"mixtral", "mixtral_capacity", "deepseek_v2_lite", "deepseek_v3", "qwen3_moe", "moe_grad_accum"})
    EXPECT_NE(std::find(c.begin(), c.end(), need), c.end()) << need;
}

}  // namespace
