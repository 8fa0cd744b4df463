#include "checkpoint/training_state.hpp"

#include <fmt/format.h>

#include "config/config_printer.hpp"
#include "core/error.hpp"

namespace primus::checkpoint {

nlohmann::json model_summary(const config::Args& a, const model::ModelConfig& c) {
  nlohmann::json layers = nlohmann::json::array();
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers.push_back(c.layer_spec(i).mlp == model::MlpKind::MoE ? "moe" : "dense");
  nlohmann::json j = {
      {"num_layers", c.num_layers},
      {"hidden_size", c.hidden},
      {"ffn_hidden_size", c.ffn},
      {"num_attention_heads", c.heads},
      {"num_query_groups", c.groups},
      {"kv_channels", c.head_dim},
      {"vocab_size", c.vocab},
      {"padded_vocab_size", c.padded_vocab},
      {"normalization", a.normalization},
      {"swiglu", c.swiglu},
      {"add_bias_linear", c.linear_bias},
      {"add_qkv_bias", c.qkv_bias},
      {"qk_layernorm", c.qk_layernorm},
      {"untie_embeddings_and_output_weights", !c.tied_embeddings},
      {"multi_latent_attention", c.multi_latent_attention},
      {"mlp_layers", layers},
      {"mtp_num_layers", c.mtp_layers},
  };
  if (c.multi_latent_attention)
    j["mla"] = {{"q_lora_rank", c.mla.q_lora_rank}, {"kv_lora_rank", c.mla.kv_lora_rank}, {"qk_head_dim", c.mla.qk_head_dim},
                {"qk_pos_emb_head_dim", c.mla.qk_pos_emb_head_dim}, {"v_head_dim", c.mla.v_head_dim}};
  if (c.moe_layers() > 0)
    j["moe"] = {{"num_experts", c.moe.experts}, {"moe_router_topk", c.moe.topk}, {"moe_ffn_hidden_size", c.moe.ffn},
                {"moe_shared_expert_intermediate_size", c.moe.shared_ffn}, {"moe_shared_expert_gate", c.moe.shared_gate},
                {"moe_router_enable_expert_bias", c.moe.expert_bias}};
  return j;
}

nlohmann::json resolved_arguments(const config::ResolvedConfig& resolved) {
  return nlohmann::json::parse(config::format_resolved(resolved, config::OutputFormat::kJson, false));
}

nlohmann::json layout_summary(const config::Args& a) {
  return {{"world_size", a.world_size},
          {"tensor_model_parallel_size", a.tensor_model_parallel_size},
          {"pipeline_model_parallel_size", a.pipeline_model_parallel_size},
          {"context_parallel_size", a.context_parallel_size},
          {"expert_model_parallel_size", a.expert_model_parallel_size},
          {"data_parallel_size", a.data_parallel_size},
          {"use_distributed_optimizer", a.use_distributed_optimizer}};
}

namespace {

void compare(const nlohmann::json& saved, const nlohmann::json& current, const std::string& prefix, const std::string& where) {
  for (const auto& [key, value] : saved.items()) {
    if (!current.contains(key)) continue;
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    const nlohmann::json& now = current[key];
    if (value.is_object() && now.is_object()) {
      compare(value, now, name, where);
    } else if (value != now) {
      fail("{}: saved with {} {} but the experiment has {}: a checkpoint of another model (or change the experiment)",
           where, name, value.dump(), now.dump());
    }
  }
}

}  // namespace

void check_model_summary(const nlohmann::json& saved, const nlohmann::json& current, const std::string& where) {
  if (!saved.is_object()) return;
  // The vocabulary's padding may differ between layouts (TP pads to TP · make_vocab_size_divisible_by).
  nlohmann::json s = saved, c = current;
  s.erase("padded_vocab_size");
  c.erase("padded_vocab_size");
  compare(s, c, "", where);
}

std::string describe_layout(const nlohmann::json& l) {
  if (!l.is_object() || l.empty()) return "unknown";
  auto get = [&](const char* k) { return l.value(k, std::int64_t{1}); };
  return fmt::format("{} process{}: TP {} × PP {} × CP {} × DP {} (EP {}){}", get("world_size"),
                     get("world_size") == 1 ? "" : "es", get("tensor_model_parallel_size"),
                     get("pipeline_model_parallel_size"), get("context_parallel_size"), get("data_parallel_size"),
                     get("expert_model_parallel_size"), l.value("use_distributed_optimizer", false) ? ", distributed optimizer" : "");
}

}  // namespace primus::checkpoint
