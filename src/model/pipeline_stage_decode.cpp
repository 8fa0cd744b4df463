// PipelineStage's decode path (generation with a KV cache): the prompt, then one token per
// step, through the embedding, every layer's decode and the output layer, reusing the stage's
// planned activation and scratch buffers (a chunk of at most tokens_per_micro_batch() tokens is
// what they were sized for).
#include <algorithm>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "kernels/attention_decode.hpp"
#include "model/norm.hpp"
#include "model/pipeline_stage.hpp"

namespace primus::model {

KvCache PipelineStage::make_kv_cache(std::int64_t capacity) const {
  if (num_chunks() != 1 || !pre_process() || !post_process())
    fail("internal: decoding needs the whole model in one chunk (embedding to output layer)");
  // The decode paths run the blocks' unsharded math; a tensor-parallel stage would need the
  // gathers and reductions of forward() at every boundary, which decoding does not do (yet).
  if (parallel_.tp_size() > 1 || parallel_.cp_size() > 1)
    fail("generation runs on one process: tensor_model_parallel_size and context_parallel_size must be 1 (got {} and "
         "{})",
         parallel_.tp_size(), parallel_.cp_size());
  if (capacity <= 0) fail("internal: KV cache of {} positions", capacity);
  KvCache cache;
  cache.capacity = capacity;
  for (const auto& layer : layers_) {
    KvCache::Layer l;
    l.widths = layer->attention().kv_widths();
    l.k = AlignedBuffer<float>(static_cast<std::size_t>(capacity * l.widths.k));
    l.v = AlignedBuffer<float>(static_cast<std::size_t>(capacity * l.widths.v));
    cache.layers.push_back(std::move(l));
  }
  cache.positions.resize(static_cast<std::size_t>(tokens_per_micro_batch()));
  kernels::AttentionDecodeShape s;
  s.queries = 1;
  s.first = capacity - 1;
  s.heads = s.groups = s.head_dim = 1;
  cache.workspace = AlignedBuffer<float>(kernels::attention_decode_workspace(s, num_threads()));
  return cache;
}

void PipelineStage::decode(const std::int32_t* tokens, std::int64_t n, KvCache& cache, float* logits) {
  const ModelConfig& c = config_;
  const std::int64_t h = c.hidden, chunk = tokens_per_micro_batch();
  if (n <= 0) fail("internal: decode of {} tokens", n);
  if (cache.length + n > cache.capacity)
    fail("the sequence would reach {} tokens but the KV cache holds {}", cache.length + n, cache.capacity);
  for (std::int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.padded_vocab)
      fail("token id {} is outside the model's vocabulary of {}", tokens[i], c.padded_vocab);
  const StageWeights w = weights();
  const MicroBatchState state = eval_state();
  float* x = arena_.get(chunks_.front().residual.front());  // [num_layers + 1, T, h]
  for (std::int64_t at = 0; at < n; at += chunk) {
    const std::int64_t m = std::min(chunk, n - at);
    for (std::int64_t i = 0; i < m; ++i) cache.positions[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(cache.length + i);
    embedding_->forward(BlockCall{w, 1, m, nullptr, arena_.get(scratch_), linear_, state}, tokens + at, x);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const BlockCall bc{w, 1, m, arena_.get(shared_set_), arena_.get(scratch_), linear_, state};
      layers_[i]->decode(bc, x + static_cast<std::int64_t>(i) * chunk * h, x + static_cast<std::int64_t>(i + 1) * chunk * h,
                         arena_.get(tmp_), cache, cache.layers[i]);
    }
    cache.length += m;
    if (at + m < n) continue;
    // The last token's logits.
    const float* last = x + static_cast<std::int64_t>(layers_.size()) * chunk * h + (m - 1) * h;
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(final_norm_w_), w.p(final_norm_b_), nullptr, nullptr}, last,
                 arena_.get(final_out_), arena_.get(final_mean_), arena_.get(final_rstd_), 1, h);
    const BlockCall post{w, 1, 1, nullptr, arena_.get(scratch_), linear_, state};
    const std::int32_t label = 0;
    const float mask = 0.0f;
    output_->forward(post, arena_.get(final_out_), &label, &mask, 0.0f, nullptr, logits);
  }
}

}  // namespace primus::model
