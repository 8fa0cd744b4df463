#include "migrate/architecture_keys.hpp"

#include <algorithm>

namespace primus::migrate {

namespace {

const std::vector<std::string> kCore{
    "num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads", "kv_channels", "group_query_attention",
    "num_query_groups", "normalization", "norm_epsilon", "apply_layernorm_1p", "swiglu", "squared_relu",
    "openai_gelu", "quick_geglu", "add_bias_linear", "add_qkv_bias", "qk_layernorm",
    "apply_residual_connection_post_layernorm", "untie_embeddings_and_output_weights", "position_embedding_type",
    "multi_latent_attention", "num_experts", "window_size", "softmax_type", "mtp_num_layers", "model_type",
    "is_hybrid_model", "hybrid_override_pattern", "experimental_attention_variant", "linear_attention_freq",
    "lfm_layer_types"};
const std::vector<std::string> kRope{"rotary_base", "rotary_percent", "rotary_interleaved", "use_rope_scaling",
                                     "rope_scaling_factor", "no_rope_freq"};
const std::vector<std::string> kExperts{"moe_ffn_hidden_size", "moe_layer_freq", "moe_router_topk",
                                        "moe_shared_expert_intermediate_size", "moe_router_score_function",
                                        "moe_router_pre_softmax", "moe_router_num_groups", "moe_router_group_topk",
                                        "moe_router_topk_scaling_factor", "moe_router_enable_expert_bias"};
const std::vector<std::string> kLatent{"q_lora_rank", "kv_lora_rank", "qk_head_dim", "qk_pos_emb_head_dim",
                                       "v_head_dim", "rotary_scaling_factor", "mscale", "mscale_all_dim"};

bool flag(const ValueMap& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && it->second.is_bool() && it->second.as_bool();
}
bool set(const ValueMap& m, const char* key) {
  auto it = m.find(key);
  return it != m.end() && !it->second.is_null();
}
bool rope(const ValueMap& m) {
  auto it = m.find("position_embedding_type");
  return it != m.end() && it->second.is_string() &&
         (it->second.as_string() == "rope" || it->second.as_string() == "mrope");
}

bool learned(const ValueMap& m) {
  auto it = m.find("position_embedding_type");
  return it != m.end() && it->second.is_string() && it->second.as_string() == "learned_absolute";
}

}  // namespace

const std::vector<std::string>& architecture_keys() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> out = kCore;
    for (const auto* group : {&kRope, &kExperts, &kLatent}) out.insert(out.end(), group->begin(), group->end());
    out.push_back("add_position_embedding");
    return out;
  }();
  return all;
}

bool is_architecture_key(const std::string& key) {
  const auto& all = architecture_keys();
  return std::find(all.begin(), all.end(), key) != all.end();
}

std::vector<std::string> relevant_architecture_keys(const ValueMap& a, const ValueMap& b) {
  std::vector<std::string> out = kCore;
  if (rope(a) || rope(b) || flag(a, "multi_latent_attention") || flag(b, "multi_latent_attention"))
    out.insert(out.end(), kRope.begin(), kRope.end());
  if (learned(a) || learned(b)) out.push_back("add_position_embedding");
  if (set(a, "num_experts") || set(b, "num_experts")) out.insert(out.end(), kExperts.begin(), kExperts.end());
  if (flag(a, "multi_latent_attention") || flag(b, "multi_latent_attention"))
    out.insert(out.end(), kLatent.begin(), kLatent.end());
  return out;
}

// Values that build the same model although they differ as written: the router's top-k scaling
// factor unset (Megatron scales nothing) and 1.0.
static bool same_model(const std::string& key, const config::Value& x, const config::Value& y) {
  if (x == y) return true;
  if (key == "moe_router_topk_scaling_factor") {
    auto one = [](const config::Value& v) { return v.is_null() || ((v.is_int() || v.is_float()) && v.as_float() == 1.0); };
    return one(x) && one(y);
  }
  return false;
}

std::vector<std::string> architecture_differences(const ValueMap& a, const ValueMap& b) {
  std::vector<std::string> out;
  for (const auto& key : relevant_architecture_keys(a, b)) {
    auto x = a.find(key), y = b.find(key);
    bool equal =
        (x == a.end() || y == b.end()) ? (x == a.end()) == (y == b.end()) : same_model(key, x->second, y->second);
    if (!equal) out.push_back(key);
  }
  return out;
}

int architecture_weight(const std::string& key, const ValueMap& a, const ValueMap& b) {
  static const std::vector<std::string> kind{"model_type", "multi_latent_attention", "is_hybrid_model",
                                             "hybrid_override_pattern", "experimental_attention_variant",
                                             "linear_attention_freq", "lfm_layer_types"};
  static const std::vector<std::string> family{"normalization", "swiglu", "squared_relu", "openai_gelu", "quick_geglu",
                                               "position_embedding_type", "add_position_embedding", "softmax_type"};
  static const std::vector<std::string> attention{"group_query_attention", "qk_layernorm", "add_bias_linear",
                                                  "add_qkv_bias", "untie_embeddings_and_output_weights",
                                                  "apply_residual_connection_post_layernorm", "window_size",
                                                  "apply_layernorm_1p", "mtp_num_layers"};
  auto in = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), key) != v.end(); };
  if (in(kind)) return kKindWeight;
  if (key == "num_experts") {  // experts or not is the model's kind; their number is a size
    bool ea = set(a, "num_experts"), eb = set(b, "num_experts");
    return ea != eb ? kKindWeight : 1;
  }
  if (in(family)) return 20;
  if (in(attention)) return 5;
  return 1;
}

}  // namespace primus::migrate
