#include "checkpoint/hf/hf_family.hpp"

#include <array>

namespace primus::checkpoint::hf {

namespace {

struct Info {
  Family family;
  std::string_view type, arch;
};

constexpr std::array<Info, 7> kFamilies{{
    {Family::Llama, "llama", "LlamaForCausalLM"},
    {Family::Qwen2, "qwen2", "Qwen2ForCausalLM"},
    {Family::Qwen3, "qwen3", "Qwen3ForCausalLM"},
    {Family::Qwen3Moe, "qwen3_moe", "Qwen3MoeForCausalLM"},
    {Family::Mixtral, "mixtral", "MixtralForCausalLM"},
    {Family::DeepseekV2, "deepseek_v2", "DeepseekV2ForCausalLM"},
    {Family::DeepseekV3, "deepseek_v3", "DeepseekV3ForCausalLM"},
}};

const Info& info(Family f) { return kFamilies[static_cast<std::size_t>(f)]; }

}  // namespace

std::string_view model_type(Family f) { return info(f).type; }
std::string_view architecture(Family f) { return info(f).arch; }

std::optional<Family> family_from_model_type(std::string_view t) {
  for (const Info& i : kFamilies)
    if (i.type == t) return i.family;
  return std::nullopt;
}

std::string supported_model_types() {
  std::string out;
  for (const Info& i : kFamilies) out += (out.empty() ? "" : ", ") + std::string(i.type);
  return out;
}

Family infer_family(const config::Args& a) {
  if (a.multi_latent_attention) {
    const bool v3 = a.moe_router_score_function == "sigmoid" || a.q_lora_rank.has_value() ||
                    (a.mtp_num_layers && *a.mtp_num_layers > 0);
    return v3 ? Family::DeepseekV3 : Family::DeepseekV2;
  }
  if (a.num_experts) return a.qk_layernorm ? Family::Qwen3Moe : Family::Mixtral;
  if (a.qk_layernorm) return Family::Qwen3;
  if (a.add_qkv_bias) return Family::Qwen2;
  return Family::Llama;
}

bool is_moe(Family f) { return f == Family::Qwen3Moe || f == Family::Mixtral || f == Family::DeepseekV2 || f == Family::DeepseekV3; }
bool is_mla(Family f) { return f == Family::DeepseekV2 || f == Family::DeepseekV3; }

}  // namespace primus::checkpoint::hf
