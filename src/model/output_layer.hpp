// The output layer and the loss (Megatron-Core's output_layer + compute_language_model_loss):
// logits = x W^T over the padded vocabulary, cross-entropy against the labels over the real
// vocabulary. Runs over chunks of tokens, forward and backward together, so the [T, vocab]
// logits are never held whole (llm.c's trick: the chunk's dlogits overwrite its logits).
#pragma once

#include <cstdint>

#include "model/block.hpp"

namespace primus::model {

class OutputLayer {
 public:
  // tied: the embedding's weight (untie_embeddings_and_output_weights false), else kNoParam.
  OutputLayer(const BuildContext& ctx, ParamId tied, BufferPlan& scratch);

  ParamId weight() const { return weight_; }
  std::int64_t chunk() const { return chunk_; }
  // x [T, h] -> Σ_t loss_t · mask_t. With dx: the gradient of  loss_weight · Σ_t loss_t · mask_t
  // is written to dx [T, h] and accumulated into the weight. logits (optional): [T, padded_vocab].
  double forward(const BlockCall& call, const float* x, const std::int32_t* labels, const float* mask,
                 float loss_weight, float* dx, float* logits_out) const;

 private:
  const ModelConfig& c_;
  ParamId weight_;
  std::int64_t chunk_;
  std::int64_t logits_, losses_, lse_, dloss_;  // scratch
};

}  // namespace primus::model
