#include "inference/generator.hpp"

#include "core/error.hpp"

namespace primus::inference {

GenerationResult generate(model::PipelineStage& model, std::span<const std::int32_t> prompt, Sampler& sampler,
                          const GenerationOptions& o) {
  if (prompt.empty()) fail("the prompt is empty: give text (--prompt) or token ids (--prompt-ids)");
  if (o.max_new_tokens < 0) fail("--max-new-tokens {} must not be negative", o.max_new_tokens);
  const auto total = static_cast<std::int64_t>(prompt.size()) + o.max_new_tokens;
  if (o.max_positions > 0 && total > o.max_positions)
    fail("the prompt ({} tokens) plus --max-new-tokens {} exceeds the model's max_position_embeddings ({})",
         prompt.size(), o.max_new_tokens, o.max_positions);
  GenerationResult r;
  if (o.max_new_tokens == 0) return r;
  const model::ModelConfig& c = model.config();
  model::KvCache cache = model.make_kv_cache(total);
  std::vector<float> logits(static_cast<std::size_t>(c.padded_vocab));
  model.decode(prompt.data(), static_cast<std::int64_t>(prompt.size()), cache, logits.data());
  for (std::int64_t step = 0;; ++step) {
    if (o.keep_logits) r.logits.emplace_back(logits.begin(), logits.begin() + c.vocab);
    const std::int32_t next = sampler.next(logits.data());
    r.ids.push_back(next);
    if (o.stop_token && next == *o.stop_token) {
      r.stopped = true;
      break;
    }
    if (step + 1 == o.max_new_tokens) break;
    model.decode(&next, 1, cache, logits.data());
  }
  return r;
}

}  // namespace primus::inference
