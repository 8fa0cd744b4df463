#include "model/embedding.hpp"

#include "kernels/embedding.hpp"

namespace primus::model {

Embedding::Embedding(const BuildContext& ctx) : c_(ctx.config) {
  weight_ = ctx.layout.add({.name = "embedding.word_embeddings.weight", .global_rows = c_.padded_vocab,
                            .global_cols = c_.hidden, .init_std = c_.init_std, .tensor_parallel = true});
}

void Embedding::forward(const StageWeights& w, const std::int32_t* tokens, float* x, std::int64_t T) const {
  kernels::embedding_forward(tokens, w.p(weight_), x, T, c_.padded_vocab, c_.hidden);
}

void Embedding::backward(const StageWeights& w, const std::int32_t* tokens, const float* dx, std::int64_t T) const {
  kernels::embedding_backward(tokens, dx, w.g(weight_), T, c_.padded_vocab, c_.hidden);
}

}  // namespace primus::model
