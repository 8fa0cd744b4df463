// The Hugging Face model families this engine converts to and from, by config.json's
// "model_type" and "architectures".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/args.hpp"

namespace primus::checkpoint::hf {

enum class Family { Llama, Qwen2, Qwen3, Qwen3Moe, Mixtral, DeepseekV2, DeepseekV3 };

std::string_view model_type(Family f);     // "llama", "qwen2", ...
std::string_view architecture(Family f);   // "LlamaForCausalLM", ...
// From config.json's model_type; nullopt for a family this engine does not convert.
std::optional<Family> family_from_model_type(std::string_view model_type);
// "llama, qwen2, qwen3, qwen3_moe, mixtral, deepseek_v2, deepseek_v3" — for messages.
std::string supported_model_types();

// The family that writes the experiment's architecture: multi-latent attention -> DeepSeek (V3
// with a sigmoid router, q-LoRA or multi-token prediction; else V2); MoE -> Qwen3-MoE with q/k
// norms, else Mixtral; dense -> Qwen3 with q/k norms, Qwen2 with QKV biases, else Llama.
Family infer_family(const config::Args& args);

bool is_moe(Family f);
bool is_mla(Family f);

}  // namespace primus::checkpoint::hf
