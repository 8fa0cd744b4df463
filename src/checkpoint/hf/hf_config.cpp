#include "checkpoint/hf/hf_config.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint::hf {

namespace {

using json = nlohmann::json;

[[noreturn]] void refuse(Family f, const std::string& what) {
  fail("the experiment's {} has no counterpart in Hugging Face's {} models; change it or export another family",
       what, model_type(f));
}

// Layers whose MLP is MoE.
std::vector<bool> moe_layers(const model::ModelConfig& c) {
  std::vector<bool> out(static_cast<std::size_t>(c.num_layers), false);
  for (std::int64_t i = 0; i < c.num_layers; ++i)
    out[static_cast<std::size_t>(i)] = c.layer_spec(i).mlp == model::MlpKind::MoE;
  return out;
}

bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x == y || std::fabs(x - y) <= 1e-6 * std::max(std::fabs(x), std::fabs(y));
  }
  return a == b;
}

const json* lookup(const json& j, const std::string& dotted) {
  const json* at = &j;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = dotted.find('.', start);
    const std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object() || !at->contains(part)) return nullptr;
    at = &(*at)[part];
    if (dot == std::string::npos) return at;
    start = dot + 1;
  }
}

}  // namespace

std::vector<ConfigCheck> architecture_checks(Family f, const config::Args& a, const model::ModelConfig& c) {
  // What no family here expresses.
  if (c.norm != model::Norm::RMSNorm) refuse(f, "normalization " + a.normalization);
  if (!c.swiglu) refuse(f, "swiglu false (GeLU MLP)");
  if (c.linear_bias) refuse(f, "add_bias_linear");
  if (a.rotary_percent != 1.0) refuse(f, fmt::format("rotary_percent {}", a.rotary_percent));
  if (c.rope.seq_len_interpolation_factor != 1.0f) refuse(f, "rotary_seq_len_interpolation_factor");

  std::vector<ConfigCheck> v;
  auto add = [&](std::string key, json expected, json absent, std::string ours) {
    v.push_back({std::move(key), std::move(expected), std::move(absent), std::move(ours)});
  };
  const bool mla = is_mla(f);
  add("hidden_size", c.hidden, nullptr, "hidden_size");
  add("num_hidden_layers", c.num_layers, nullptr, "num_layers");
  add("num_attention_heads", c.heads, nullptr, "num_attention_heads");
  add("vocab_size", c.padded_vocab, nullptr, "padded vocabulary (tokenizer, make_vocab_size_divisible_by, padded_vocab_size)");
  add("rms_norm_eps", c.norm_eps, nullptr, "norm_epsilon");
  add("rope_theta", a.rotary_base, 10000.0, "rotary_base");
  add("tie_word_embeddings", c.tied_embeddings, false, "untie_embeddings_and_output_weights");
  add("hidden_act", "silu", "silu", "swiglu");
  if (f != Family::Mixtral) add("intermediate_size", c.ffn, nullptr, "ffn_hidden_size");
  if (!mla) {
    add("num_key_value_heads", c.groups, c.heads, "num_query_groups");
    add("head_dim", c.head_dim, c.hidden / c.heads, "kv_channels");
  }

  // Attention extras.
  if (f == Family::Llama) {
    if (c.qk_layernorm) refuse(f, "qk_layernorm");
    add("attention_bias", c.qkv_bias, false, "add_qkv_bias");
    add("mlp_bias", false, false, "add_bias_linear");
  } else if (f == Family::Qwen2) {
    if (!c.qkv_bias) refuse(f, "add_qkv_bias false (Qwen2 always has QKV biases)");
    if (c.qk_layernorm) refuse(f, "qk_layernorm");
  } else if (f == Family::Qwen3 || f == Family::Qwen3Moe) {
    if (!c.qk_layernorm) refuse(f, "qk_layernorm false (Qwen3 always normalises q and k)");
    add("attention_bias", c.qkv_bias, false, "add_qkv_bias");
  } else if (f == Family::Mixtral) {
    if (c.qk_layernorm) refuse(f, "qk_layernorm");
    if (c.qkv_bias) refuse(f, "add_qkv_bias");
  }

  // Rotary embeddings.
  if (mla) {
    const kernels::RopeConfig& r = c.mla.rope;
    if (r.yarn) {
      add("rope_scaling.type", "yarn", nullptr, "rope_type");
      add("rope_scaling.factor", r.yarn_factor, nullptr, "rotary_scaling_factor");
      add("rope_scaling.original_max_position_embeddings", r.original_max_positions, nullptr, "original_max_position_embeddings");
      add("rope_scaling.beta_fast", r.beta_fast, 32.0, "beta_fast");
      add("rope_scaling.beta_slow", r.beta_slow, 1.0, "beta_slow");
      add("rope_scaling.mscale", r.mscale, 1.0, "mscale");
      add("rope_scaling.mscale_all_dim", r.mscale_all_dim, 0.0, "mscale_all_dim");
    } else {
      add("rope_scaling", nullptr, nullptr, "rope_type");
    }
  } else if (c.rope.llama3_scaling) {
    if (f != Family::Llama) refuse(f, "use_rope_scaling (Llama 3.1 rope scaling)");
    add("rope_scaling.rope_type", "llama3", nullptr, "use_rope_scaling");
    add("rope_scaling.factor", c.rope.scaling_factor, nullptr, "rope_scaling_factor");
    add("rope_scaling.low_freq_factor", c.rope.low_freq_factor, nullptr, "use_rope_scaling (this engine's low_freq_factor)");
    add("rope_scaling.high_freq_factor", c.rope.high_freq_factor, nullptr, "use_rope_scaling (this engine's high_freq_factor)");
    add("rope_scaling.original_max_position_embeddings", c.rope.original_max_positions, nullptr,
        "use_rope_scaling (this engine's original context)");
  } else {
    add("rope_scaling", nullptr, nullptr, "use_rope_scaling");
  }

  // MLA shapes.
  if (mla) {
    if (!c.multi_latent_attention) refuse(f, "multi_latent_attention false");
    if (!c.qk_layernorm) refuse(f, "qk_layernorm false (DeepSeek normalises the q and kv latents)");
    const model::MlaConfig& m = c.mla;
    add("q_lora_rank", m.q_lora_rank ? json(m.q_lora_rank) : json(nullptr), nullptr, "q_lora_rank");
    add("kv_lora_rank", m.kv_lora_rank, nullptr, "kv_lora_rank");
    add("qk_nope_head_dim", m.qk_head_dim, nullptr, "qk_head_dim");
    add("qk_rope_head_dim", m.qk_pos_emb_head_dim, nullptr, "qk_pos_emb_head_dim");
    add("v_head_dim", m.v_head_dim, nullptr, "v_head_dim");
  } else if (c.multi_latent_attention) {
    refuse(f, "multi_latent_attention");
  }

  // Mixture of experts.
  const std::vector<bool> moe = moe_layers(c);
  const bool any_moe = std::find(moe.begin(), moe.end(), true) != moe.end();
  if (!is_moe(f)) {
    if (any_moe) refuse(f, "num_experts (MoE layers)");
  } else {
    const model::MoeConfig& m = c.moe;
    if (!any_moe) refuse(f, "num_experts unset (no MoE layers)");
    if (m.shared_gate) refuse(f, "moe_shared_expert_gate");
    if (m.capacity_factor >= 0.0f) refuse(f, "moe_expert_capacity_factor (token dropping)");
    const bool deepseek = mla;
    if (!deepseek && (m.sigmoid || m.expert_bias || m.num_groups > 0 || m.topk_scaling_factor != 1.0f || m.shared_ffn > 0))
      refuse(f, "router or shared-expert options beyond top-k softmax (score function, expert bias, groups, scaling, shared experts)");
    if (f == Family::Mixtral) {
      add("num_local_experts", m.experts, nullptr, "num_experts");
      add("num_experts_per_tok", m.topk, nullptr, "moe_router_topk");
      add("intermediate_size", m.ffn, nullptr, "moe_ffn_hidden_size");
      if (m.pre_softmax) refuse(f, "moe_router_pre_softmax (Mixtral renormalises the top-k probabilities)");
      for (bool b : moe)
        if (!b) refuse(f, "moe_layer_freq with dense layers (every Mixtral layer is MoE)");
    } else if (f == Family::Qwen3Moe) {
      add("num_experts", m.experts, nullptr, "num_experts");
      add("num_experts_per_tok", m.topk, nullptr, "moe_router_topk");
      add("moe_intermediate_size", m.ffn, nullptr, "moe_ffn_hidden_size");
      add("norm_topk_prob", !m.pre_softmax, false, "moe_router_pre_softmax");
      json dense = json::array();
      for (std::size_t i = 0; i < moe.size(); ++i)
        if (!moe[i]) dense.push_back(i);
      add("decoder_sparse_step", 1, 1, "moe_layer_freq");
      add("mlp_only_layers", dense, json::array(), "moe_layer_freq");
    } else {
      // DeepSeek: the first k layers dense, then MoE.
      std::int64_t first = 0;
      while (first < c.num_layers && !moe[static_cast<std::size_t>(first)]) ++first;
      for (std::int64_t i = first; i < c.num_layers; ++i)
        if (!moe[static_cast<std::size_t>(i)]) refuse(f, "moe_layer_freq with a dense layer after the first MoE layer");
      add("n_routed_experts", m.experts, nullptr, "num_experts");
      add("num_experts_per_tok", m.topk, nullptr, "moe_router_topk");
      add("moe_intermediate_size", m.ffn, nullptr, "moe_ffn_hidden_size");
      add("first_k_dense_replace", first, 0, "moe_layer_freq");
      add("moe_layer_freq", 1, 1, "moe_layer_freq");
      if (m.shared_ffn % m.ffn != 0)
        refuse(f, fmt::format("moe_shared_expert_intermediate_size {} (not a multiple of moe_ffn_hidden_size {})", m.shared_ffn, m.ffn));
      add("n_shared_experts", m.shared_ffn ? json(m.shared_ffn / m.ffn) : json(nullptr), nullptr,
          "moe_shared_expert_intermediate_size");
      const std::int64_t groups = m.num_groups > 0 ? m.num_groups : 1, keep = m.group_topk > 0 ? m.group_topk : 1;
      add("n_group", groups, 1, "moe_router_num_groups");
      add("topk_group", keep, 1, "moe_router_group_topk");
      if (f == Family::DeepseekV2) {
        if (m.sigmoid || m.expert_bias) refuse(f, "a sigmoid router or expert bias (DeepSeek-V3)");
        add("scoring_func", "softmax", "softmax", "moe_router_score_function");
        if (m.num_groups > 1) {
          // DeepSeek-V2 ranks groups by their best expert; Megatron by the sum of its best k/group_topk.
          if (m.topk / keep != 1)
            refuse(f, fmt::format("group-limited routing with moe_router_topk / moe_router_group_topk = {} (DeepSeek-V2 "
                                  "ranks groups by their single best expert)", m.topk / keep));
          if (!m.pre_softmax) refuse(f, "group-limited routing without moe_router_pre_softmax");
        }
        add("topk_method", m.num_groups > 1 ? "group_limited_greedy" : "greedy", "greedy", "moe_router_num_groups");
        // Pre-softmax top-k scaled = no renormalisation; softmax over the top-k = renormalised.
        add("norm_topk_prob", !m.pre_softmax, false, "moe_router_pre_softmax");
        if (!m.pre_softmax && m.topk_scaling_factor != 1.0f)
          refuse(f, "moe_router_topk_scaling_factor without moe_router_pre_softmax (DeepSeek-V2 does not scale renormalised weights)");
        add("routed_scaling_factor", m.pre_softmax ? m.topk_scaling_factor : 1.0f, 1.0, "moe_router_topk_scaling_factor");
      } else {
        if (!m.sigmoid) refuse(f, "moe_router_score_function softmax (DeepSeek-V3 routes with sigmoid scores)");
        if (!m.expert_bias) refuse(f, "moe_router_enable_expert_bias false (DeepSeek-V3 has e_score_correction_bias)");
        if (m.num_groups > 1 && m.topk / keep != 2)
          refuse(f, fmt::format("group-limited routing with moe_router_topk / moe_router_group_topk = {} (DeepSeek-V3 "
                                "ranks groups by the sum of their two best experts)", m.topk / keep));
        add("scoring_func", "sigmoid", "softmax", "moe_router_score_function");
        add("topk_method", "noaux_tc", nullptr, "moe_router_enable_expert_bias");
        add("norm_topk_prob", m.topk > 1, false, "moe_router_score_function (sigmoid top-k weights are renormalised)");
        add("routed_scaling_factor", m.topk_scaling_factor, 1.0, "moe_router_topk_scaling_factor");
      }
    }
  }
  if (f == Family::DeepseekV3) add("num_nextn_predict_layers", c.mtp_layers, 0, "mtp_num_layers");
  else if (c.mtp_layers > 0) refuse(f, "mtp_num_layers (multi-token prediction)");
  return v;
}

nlohmann::ordered_json make_hf_config(Family f, const config::Args& a, const model::ModelConfig& c,
                                      const std::string& torch_dtype, std::optional<std::int64_t> bos,
                                      std::optional<std::int64_t> eos) {
  nlohmann::ordered_json out;
  out["architectures"] = {std::string(architecture(f))};
  out["model_type"] = std::string(model_type(f));
  for (const ConfigCheck& chk : architecture_checks(f, a, c)) {
    const std::size_t dot = chk.key.find('.');
    if (dot == std::string::npos) {
      out[chk.key] = chk.expected;
    } else {
      const std::string outer = chk.key.substr(0, dot);
      if (!out.contains(outer) || !out[outer].is_object()) out[outer] = nlohmann::ordered_json::object();
      out[outer][chk.key.substr(dot + 1)] = chk.expected;
    }
  }
  out["max_position_embeddings"] = a.max_position_embeddings;
  out["initializer_range"] = a.init_method_std;
  out["use_cache"] = true;
  if (bos) out["bos_token_id"] = *bos;
  if (eos) out["eos_token_id"] = *eos;
  out["torch_dtype"] = torch_dtype;
  return out;
}

void check_hf_config(const json& hf, Family f, const config::Args& a, const model::ModelConfig& c, const std::string& path) {
  if (!hf.is_object()) fail("{}: not a JSON object", path);
  for (const ConfigCheck& chk : architecture_checks(f, a, c)) {
    const json* got = lookup(hf, chk.key);
    json value;
    if (got) {
      value = *got;
    } else if (chk.key.find('.') != std::string::npos && !lookup(hf, chk.key.substr(0, chk.key.find('.')))) {
      // The whole object (e.g. rope_scaling) is missing.
      fail("{}: {} is missing but the experiment's {} gives {}", path, chk.key.substr(0, chk.key.find('.')), chk.ours,
           chk.expected.dump());
    } else if (chk.absent.is_null() && !chk.expected.is_null()) {
      fail("{}: {} is missing but the experiment's {} gives {}", path, chk.key, chk.ours, chk.expected.dump());
    } else {
      value = chk.absent;
    }
    if (!same_value(value, chk.expected))
      fail("{}: {} is {} but the experiment's {} gives {}", path, chk.key, value.dump(), chk.ours, chk.expected.dump());
  }
}

}  // namespace primus::checkpoint::hf
