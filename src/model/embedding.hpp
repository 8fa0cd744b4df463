// Megatron-Core's LanguageModelEmbedding (word embeddings only: rotary models add no position
// table): x[t] = W[token[t]]. W is [padded_vocab, h].
#pragma once

#include <cstdint>

#include "model/block.hpp"

namespace primus::model {

class Embedding {
 public:
  explicit Embedding(const BuildContext& ctx);

  ParamId weight() const { return weight_; }
  // tokens [T] -> x [T, h].
  void forward(const StageWeights& w, const std::int32_t* tokens, float* x, std::int64_t T) const;
  // dx [T, h] -> dW accumulated.
  void backward(const StageWeights& w, const std::int32_t* tokens, const float* dx, std::int64_t T) const;

 private:
  const ModelConfig& c_;
  ParamId weight_;
};

}  // namespace primus::model
