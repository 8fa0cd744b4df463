// The output layer and the loss (Megatron-Core's output_layer + compute_language_model_loss):
// logits = x W^T over the padded vocabulary, cross-entropy against the labels over the real
// vocabulary. Runs over chunks of tokens, forward and backward together, so the [T, vocab]
// logits are never held whole (llm.c's trick: the chunk's dlogits overwrite its logits).
//
// Under tensor parallelism W is split by vocabulary rows (column-parallel, gather_output off) and
// the cross-entropy is Megatron's vocab-parallel one: the row max, the sum of exponentials and the
// target's logit are reduced over the group; the full logits row is never gathered. The input is
// gathered from the sequence shards under sequence parallelism, and its gradient reduced back.
#pragma once

#include <cstdint>

#include "model/block.hpp"
#include "model/tensor_parallel_io.hpp"

namespace primus::model {

class OutputLayer {
 public:
  // tied: the embedding's weight (untie_embeddings_and_output_weights false), else kNoParam.
  OutputLayer(const BuildContext& ctx, ParamId tied, BufferPlan& scratch);

  ParamId weight() const { return weight_; }
  std::int64_t chunk() const { return chunk_; }
  // x_local [T/sp, h] -> Σ_t loss_t · mask_t over the whole sequence (the same on every
  // tensor-parallel rank). With dx_local: the gradient of  loss_weight · Σ_t loss_t · mask_t is
  // written there and accumulated into the weight. logits (optional, one process only):
  // [T, padded_vocab].
  double forward(const BlockCall& call, const float* x_local, const std::int32_t* labels, const float* mask,
                 float loss_weight, float* dx_local, float* logits_out) const;

 private:
  const ModelConfig& c_;
  const ModelParallel& mp_;
  ParamId weight_;
  std::int64_t chunk_, vocab_local_, v0_;
  std::int64_t logits_, losses_, lse_, dloss_, stats_, dx_full_;  // scratch
  TensorParallelIo io_;
};

}  // namespace primus::model
