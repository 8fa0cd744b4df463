// The MoE / MLA / MTP fidelity fixtures (tests/fixtures/model/<case>/, written by
// tools/reference/model/make_decoder_fixtures.py) keep their documented contract, re-derived here
// independently of the Python reference: Megatron-Core local-spec parameter names and shapes for
// each config.json (MoE experts, shared experts, MLA projections, MTP layers), the routing
// tensors' shapes and invariants (distinct experts, group limits, normalised probabilities,
// per-expert counts after capacity), the objective as the sum of its logged parts, the logged
// metrics as Megatron aggregates them, and the expert-bias trajectory as sign updates. The
// engine's fidelity tests can then rely on the files and report only engine differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_reader.hpp"

namespace primus::io {
namespace {

using Shape = std::vector<std::int64_t>;
using nlohmann::json;

const std::string kDir = std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/model/";

json read_config(const std::string& name) {
  std::ifstream in(kDir + name + "/config.json");
  EXPECT_TRUE(in) << name;
  return json::parse(in);
}

bool is_set(const json& c, const char* key) { return c.contains(key) && !c[key].is_null(); }

std::vector<std::string> balancing_types(const json& c) {
  const json& t = c["moe_router_load_balancing_type"];
  if (t.is_string()) return {t.get<std::string>()};
  return t.get<std::vector<std::string>>();
}

// TopKRouter.get_aux_loss_coeff: the coefficient paired with the type, 0 when absent.
double aux_coeff(const json& c, const std::string& kind) {
  const auto types = balancing_types(c);
  const json& coeff = c["moe_aux_loss_coeff"];
  for (std::size_t i = 0; i < types.size(); ++i)
    if (types[i] == kind) return coeff.is_array() ? coeff[i].get<double>() : coeff.get<double>();
  return 0.0;
}

bool moe_layer(const json& c, int i) { return is_set(c, "num_experts") && c["moe_layer_freq"][i].get<int>() == 1; }
int mtp_layers(const json& c) { return is_set(c, "mtp_num_layers") ? c["mtp_num_layers"].get<int>() : 0; }
bool mtp_is_moe(const json& c) {
  return mtp_layers(c) > 0 && moe_layer(c, c["num_layers"].get<int>() - 1);
}

// The `...` prefix of every MoE layer (without ".mlp"), decoder first, then MTP.
std::vector<std::string> moe_layers(const json& c) {
  std::vector<std::string> out;
  for (int i = 0; i < c["num_layers"].get<int>(); ++i)
    if (moe_layer(c, i)) out.push_back("decoder.layers." + std::to_string(i));
  if (mtp_is_moe(c))
    for (int j = 0; j < mtp_layers(c); ++j) out.push_back("mtp.layers." + std::to_string(j) + ".transformer_layer");
  return out;
}

void layer_parameters(const json& c, const std::string& p, bool moe, std::map<std::string, Shape>& out) {
  const std::int64_t h = c["hidden_size"], n = c["num_attention_heads"];
  const bool qk_norm = c["qk_layernorm"];
  out[p + "input_layernorm.weight"] = {h};
  const std::string a = p + "self_attention.";
  if (c["multi_latent_attention"].get<bool>()) {
    const std::int64_t dn = c["qk_head_dim"], dr = c["qk_pos_emb_head_dim"], dv = c["v_head_dim"],
                       kv = c["kv_lora_rank"];
    if (!is_set(c, "q_lora_rank")) {
      out[a + "linear_q_proj.weight"] = {n * (dn + dr), h};
    } else {
      const std::int64_t q = c["q_lora_rank"];
      out[a + "linear_q_down_proj.weight"] = {q, h};
      if (qk_norm) out[a + "q_layernorm.weight"] = {q};
      out[a + "linear_q_up_proj.weight"] = {n * (dn + dr), q};
    }
    out[a + "linear_kv_down_proj.weight"] = {kv + dr, h};  // rows [c_kv | k_rope]
    if (qk_norm) out[a + "kv_layernorm.weight"] = {kv};
    out[a + "linear_kv_up_proj.weight"] = {n * (dn + dv), kv};  // per head [k_nope | v]
    out[a + "linear_proj.weight"] = {h, n * dv};
  } else {
    const std::int64_t g = c["num_query_groups"], d = c["kv_channels"];
    out[a + "linear_qkv.weight"] = {(n + 2 * g) * d, h};
    if (qk_norm) {
      out[a + "q_layernorm.weight"] = {d};
      out[a + "k_layernorm.weight"] = {d};
    }
    out[a + "linear_proj.weight"] = {h, n * d};
  }
  out[p + "pre_mlp_layernorm.weight"] = {h};
  const bool swiglu = c["swiglu"];
  const auto mlp = [&](const std::string& prefix, std::int64_t ffn) {
    out[prefix + "linear_fc1.weight"] = {swiglu ? 2 * ffn : ffn, h};  // rows [gate; up]
    out[prefix + "linear_fc2.weight"] = {h, ffn};
  };
  if (!moe) {
    mlp(p + "mlp.", c["ffn_hidden_size"]);
    return;
  }
  const std::int64_t experts = c["num_experts"];
  out[p + "mlp.router.weight"] = {experts, h};
  for (std::int64_t e = 0; e < experts; ++e)
    mlp(p + "mlp.experts.local_experts." + std::to_string(e) + ".", c["moe_ffn_hidden_size"]);
  if (is_set(c, "moe_shared_expert_intermediate_size")) {
    mlp(p + "mlp.shared_experts.", c["moe_shared_expert_intermediate_size"]);
    if (c["moe_shared_expert_gate"].get<bool>()) out[p + "mlp.shared_experts.gate_weight"] = {1, h};
  }
}

std::map<std::string, Shape> expected_parameters(const json& c) {
  const std::int64_t h = c["hidden_size"], v = c["padded_vocab_size"];
  std::map<std::string, Shape> out;
  out["embedding.word_embeddings.weight"] = {v, h};
  for (int i = 0; i < c["num_layers"].get<int>(); ++i)
    layer_parameters(c, "decoder.layers." + std::to_string(i) + ".", moe_layer(c, i), out);
  out["decoder.final_layernorm.weight"] = {h};
  for (int j = 0; j < mtp_layers(c); ++j) {
    const std::string p = "mtp.layers." + std::to_string(j) + ".";
    out[p + "enorm.weight"] = {h};
    out[p + "hnorm.weight"] = {h};
    out[p + "eh_proj.weight"] = {h, 2 * h};  // input [enorm(embedding) ; hnorm(hidden)]
    layer_parameters(c, p + "transformer_layer.", mtp_is_moe(c), out);
    out[p + "final_layernorm.weight"] = {h};
  }
  if (c["untie_embeddings_and_output_weights"].get<bool>()) out["output_layer.weight"] = {v, h};
  return out;
}

double sum(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s;
}

class DecoderFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderFixture, FilesKeepTheDocumentedContract) {
  const std::string name = GetParam();
  const json c = read_config(name);
  SafetensorsReader weights(kDir + name + "/weights.safetensors");
  SafetensorsReader batch(kDir + name + "/batch.safetensors");
  SafetensorsReader expected(kDir + name + "/expected.safetensors");
  const std::int64_t b = c["global_batch_size"], mbs = c["micro_batch_size"], s = c["seq_length"],
                     steps = c["steps"], M = b / mbs;
  const bool expert_bias = c["moe_router_enable_expert_bias"];
  const auto layers = moe_layers(c);

  // Parameters (plus the expert_bias buffers), all F32, each with its gradient.
  auto params = expected_parameters(c);
  std::vector<std::string> want_names;
  for (const auto& [param, shape] : params) {
    ASSERT_TRUE(weights.contains(param)) << name << ": " << param;
    EXPECT_EQ(weights.entry(param).shape, shape) << param;
    EXPECT_EQ(weights.entry(param).dtype, StDType::F32) << param;
    ASSERT_TRUE(expected.contains("grad." + param)) << name << ": grad." << param;
    EXPECT_EQ(expected.entry("grad." + param).shape, shape) << param;
  }
  auto all = params;
  if (expert_bias)
    for (const auto& l : layers) all[l + ".mlp.router.expert_bias"] = {c["num_experts"].get<std::int64_t>()};
  for (const auto& [param, shape] : all) want_names.push_back(param);
  std::vector<std::string> got_names = weights.names();
  std::sort(got_names.begin(), got_names.end());
  EXPECT_EQ(got_names, want_names) << name;

  // The objective is the LM loss plus every attached loss (each a mean over micro-batches)
  // plus the scaled MTP losses.
  const double loss = expected.read_f32("loss")[0], lm = expected.read_f32("lm_loss")[0];
  double parts = lm;
  for (const auto& l : layers)
    for (const char* kind : {"aux_loss", "seq_aux_loss", "global_aux_loss", "z_loss"}) {
      const std::string key = "aux." + l + "." + kind;
      const bool active = std::string(kind) == "z_loss" ? is_set(c, "moe_z_loss_coeff") : aux_coeff(c, kind) > 0;
      ASSERT_EQ(expected.contains(key), active) << name << ": " << key;
      if (active) {
        EXPECT_EQ(expected.entry(key).shape, (Shape{M})) << key;
        parts += sum(expected.read_f32(key)) / static_cast<double>(M);
      }
    }
  const int D = mtp_layers(c);
  for (int k = 1; k <= D; ++k)
    parts += c["mtp_loss_scaling_factor"].get<double>() / D * sum(expected.read_f32("mtp_loss." + std::to_string(k))) /
             static_cast<double>(M);
  EXPECT_NEAR(parts, loss, 2e-6 * loss) << name;
  EXPECT_EQ(expected.read_f32("step_losses")[0], static_cast<float>(loss));
  EXPECT_EQ(expected.read_f32("step_lm_losses")[0], static_cast<float>(lm));
  EXPECT_LT(expected.read_f32("step_losses").back(), 0.8 * loss) << "training lowers the objective";

  // The logged lm loss is one token-weighted mean over the global batch.
  const auto losses = expected.read_f32("losses");
  const auto mask = batch.read_f32("loss_mask");
  double ce = 0, tokens = 0;
  for (std::size_t i = 0; i < losses.size(); ++i) ce += double(losses[i]) * mask[i], tokens += mask[i];
  EXPECT_NEAR(expected.read_f32("log.lm_loss")[0], ce / tokens, 1e-6 * ce / tokens);

  if (!is_set(c, "num_experts")) return;
  const std::int64_t E = c["num_experts"], k = c["moe_router_topk"];
  const std::string fn = c["moe_router_score_function"];
  const double factor = is_set(c, "moe_router_topk_scaling_factor") ? c["moe_router_topk_scaling_factor"].get<double>() : 1.0;
  const bool capacity = is_set(c, "moe_expert_capacity_factor");
  const bool pad = c["moe_pad_expert_input_to_capacity"];
  for (const auto& l : layers) {
    const auto routing = expected.read_i32("routing." + l);
    const auto probs = expected.read_f32("probs." + l);
    ASSERT_EQ(expected.entry("routing." + l).shape, (Shape{b * s, k})) << l;
    ASSERT_EQ(expected.entry("probs." + l).shape, (Shape{b * s, k})) << l;
    ASSERT_EQ(expected.contains("kept." + l), capacity) << l;
    const auto kept = capacity ? expected.read_i32("kept." + l) : std::vector<std::int32_t>(routing.size(), 1);
    std::vector<std::int64_t> counts(static_cast<std::size_t>(E), 0);
    for (std::int64_t t = 0; t < b * s; ++t) {
      std::set<std::int32_t> chosen;
      double total = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        const auto idx = static_cast<std::size_t>(t * k + j);
        ASSERT_TRUE(routing[idx] >= 0 && routing[idx] < E) << l;
        chosen.insert(routing[idx]);
        EXPECT_GT(probs[idx], 0.0f) << l;
        total += probs[idx];
        if (kept[idx]) ++counts[static_cast<std::size_t>(routing[idx])];
      }
      EXPECT_EQ(chosen.size(), static_cast<std::size_t>(k)) << l << ": token " << t << " repeats an expert";
      // softmax over the selected k, or sigmoid normalised over them, sums to the scaling
      // factor; pre-softmax probabilities are a part of a softmax over all experts.
      if (fn == "softmax" && c["moe_router_pre_softmax"].get<bool>())
        EXPECT_LT(total, factor * (1 + 1e-6)) << l;
      else
        EXPECT_NEAR(total, factor, 1e-5 * factor) << l << ": token " << t;
      if (is_set(c, "moe_router_num_groups")) {
        const std::int64_t per = E / c["moe_router_num_groups"].get<std::int64_t>();
        std::set<std::int64_t> groups;
        for (auto e : chosen) groups.insert(e / per);
        EXPECT_LE(static_cast<std::int64_t>(groups.size()), c["moe_router_group_topk"].get<std::int64_t>()) << l;
      }
    }
    const auto per_expert = expected.read_i32("tokens_per_expert." + l);
    ASSERT_EQ(per_expert.size(), static_cast<std::size_t>(E));
    if (capacity && pad) {
      // Each micro-batch pads every expert to exactly its capacity.
      const std::int64_t T = mbs * s;
      const auto cap = static_cast<std::int64_t>(
          std::ceil(static_cast<double>(T * k) / static_cast<double>(E) * c["moe_expert_capacity_factor"].get<double>()));
      for (std::int64_t e = 0; e < E; ++e) EXPECT_EQ(per_expert[static_cast<std::size_t>(e)], M * std::min(cap, T)) << l;
    } else {
      for (std::int64_t e = 0; e < E; ++e) EXPECT_EQ(per_expert[static_cast<std::size_t>(e)], counts[static_cast<std::size_t>(e)]) << l;
    }
    if (capacity) {
      std::int64_t dropped = 0;
      for (auto x : kept) dropped += x == 0;
      EXPECT_GT(dropped, 0) << l << ": the capacity case drops nothing";
    }
    if (expert_bias) {
      // Row n is the bias of step n; each step moves every entry by -rate, 0 or +rate, and the
      // first move is rate * sign(mean(C) - C) for the step's counts C.
      const auto traj = expected.read_f32("expert_bias." + l);
      ASSERT_EQ(expected.entry("expert_bias." + l).shape, (Shape{steps + 1, E}));
      const auto initial = weights.read_f32(l + ".mlp.router.expert_bias");
      const double rate = c["moe_router_bias_update_rate"];
      double mean = 0;
      for (auto x : per_expert) mean += x;
      mean /= static_cast<double>(E);
      for (std::int64_t e = 0; e < E; ++e) {
        const auto ue = static_cast<std::size_t>(e);
        EXPECT_EQ(traj[ue], initial[ue]);
        const double sign = (mean > per_expert[ue]) - (mean < per_expert[ue]);
        EXPECT_NEAR(traj[static_cast<std::size_t>(E) + ue] - traj[ue], rate * sign, 1e-6) << l;
        for (std::int64_t n = 0; n < steps; ++n) {
          const double d = std::abs(traj[static_cast<std::size_t>((n + 1) * E + e)] - traj[static_cast<std::size_t>(n * E + e)]);
          EXPECT_TRUE(d < 1e-6 || std::abs(d - rate) < 1e-6) << l << ": step " << n << " moves the bias by " << d;
        }
      }
    }
  }

  // Logged load-balancing metrics: the value / coeff, summed over layers and micro-batches,
  // divided by the micro-batches and the MoE layers (decoder + MTP); z_loss likewise.
  const json& type = c["moe_router_load_balancing_type"];
  const auto logged = [&](const std::string& kind) {
    // Megatron's `"aux_loss" in args.moe_router_load_balancing_type`: substring for a string.
    return type.is_string() ? type.get<std::string>().find(kind) != std::string::npos
                            : std::find(type.begin(), type.end(), kind) != type.end();
  };
  const std::map<std::string, std::string> log_name = {{"aux_loss", "load_balancing_loss"},
                                                       {"seq_aux_loss", "seq_load_balancing_loss"},
                                                       {"global_aux_loss", "global_load_balancing_loss"},
                                                       {"z_loss", "z_loss"}};
  for (const auto& [kind, key] : log_name) {
    const bool shown = kind == "z_loss" ? is_set(c, "moe_z_loss_coeff") : logged(kind);
    ASSERT_EQ(expected.contains("log." + key), shown) << name << ": log." << key;
    if (!shown) continue;
    const double coeff = kind == "z_loss" ? c["moe_z_loss_coeff"].get<double>() : aux_coeff(c, kind);
    double total = 0;
    if (coeff > 0)
      for (const auto& l : layers) total += sum(expected.read_f32("aux." + l + "." + kind)) / coeff;
    const double want = total / static_cast<double>(M) / static_cast<double>(layers.size());
    EXPECT_NEAR(expected.read_f32("log." + key)[0], want, 1e-5 * std::max(1.0, want)) << name << ": " << key;
  }
  for (int kk = 1; kk <= D; ++kk)
    EXPECT_NEAR(expected.read_f32("log.mtp_" + std::to_string(kk) + "_loss")[0],
                sum(expected.read_f32("mtp_loss." + std::to_string(kk))) / static_cast<double>(M), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Cases, DecoderFixture,
                         ::testing::Values(std::string("qwen3"), "mixtral", "mixtral_capacity", "mixtral_capacity_position",
                                           "moe_gelu", "moe_grad_accum", "deepseek_v2_lite", "deepseek_v3",
                                           "qwen3_moe", "moe_bf16"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace primus::io
