// Autoregressive generation for one prompt with a KV cache: the prompt is decoded once (in
// chunks), then one token per step, each step sampling the next token from the last logits
// (sampler.hpp), until max_new_tokens or the end-of-document token.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "inference/sampler.hpp"
#include "model/pipeline_stage.hpp"

namespace primus::inference {

struct GenerationOptions {
  std::int64_t max_new_tokens = 32;
  std::optional<std::int32_t> stop_token;   // the tokenizer's end-of-document id; nullopt: never stop
  std::int64_t max_positions = 0;           // max_position_embeddings (0: no limit)
  bool keep_logits = false;                 // record each step's logits (real vocabulary)
};

struct GenerationResult {
  std::vector<std::int32_t> ids;            // the generated tokens (without the prompt)
  std::vector<std::vector<float>> logits;   // per step, when kept
  bool stopped = false;                     // ended at the stop token
};

GenerationResult generate(model::PipelineStage& model, std::span<const std::int32_t> prompt, Sampler& sampler,
                          const GenerationOptions& options);

}  // namespace primus::inference
