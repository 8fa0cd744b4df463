// tokenizer_type + tokenizer_model → a Tokenizer, as the presets name them:
//   Llama2Tokenizer, Llama3Tokenizer, MixtralTokenizer, DeepSeekV2Tokenizer, DeepSeekV3Tokenizer,
//   Qwen2Tokenizer, HuggingFaceTokenizer → HfTokenizer over tokenizer.json;
//   NullTokenizer → NullTokenizer(vocab_size).
// tokenizer_model is a tokenizer.json file, a folder holding one, or a Hugging Face id looked up
// offline in $HF_HOME/hub/models--ORG--NAME/snapshots/*/tokenizer.json (HF_HOME defaults to
// ~/.cache/huggingface; HF_HUB_CACHE overrides the hub folder), then in ./assets/hf_home/hub where
// scripts/fetch_assets.sh puts the project's tokenizers. A miss is one line saying where it looked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/tokenizer/tokenizer.hpp"

namespace primus::data {

// Path of the tokenizer.json that `model` names (file, folder or HF id).
std::string resolve_tokenizer_json(const std::string& model);

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& tokenizer_type, const std::string& tokenizer_model,
                                          std::optional<std::int64_t> vocab_size = std::nullopt);

// The tokenizer's entry in Megatron's dataset description ("tokenizer": {...}), as Megatron's
// legacy tokenizers write it: {"class": "_HuggingFaceTokenizer", "tokenizer_path": [model]} or
// {"class": "_NullTokenizer", "tokenizer_path": [null], "vocab_size": "N"}.
nlohmann::ordered_json tokenizer_identity(const std::string& tokenizer_type, const std::string& tokenizer_model,
                                          std::optional<std::int64_t> vocab_size = std::nullopt);

}  // namespace primus::data
