#include "model/embedding.hpp"

#include "core/error.hpp"
#include "kernels/embedding.hpp"

namespace primus::model {

Embedding::Embedding(const BuildContext& ctx, BufferPlan& scratch)
    : c_(ctx.config), mp_(ctx.parallel), io_(ctx, ctx.config.hidden, scratch) {
  const std::int64_t t = ctx.parallel.tp_size();
  if (c_.padded_vocab % t != 0)
    fail("internal: padded vocabulary {} not divisible by tensor_model_parallel_size {}", c_.padded_vocab, t);
  rows_ = c_.padded_vocab / t;
  v0_ = ctx.parallel.tp_rank() * rows_;
  weight_ = ctx.layout.add({.name = "embedding.word_embeddings.weight", .global_rows = c_.padded_vocab,
                            .global_cols = c_.hidden, .init_std = c_.init_std,
                            .shard = t > 1 ? Shard{{RowRange{v0_, rows_}}, 0} : Shard{}, .tensor_parallel = true});
}

void Embedding::forward(const BlockCall& call, const std::int32_t* tokens, float* x_local) const {
  const std::int64_t T = call.tokens();
  if (!io_.active()) {
    kernels::embedding_forward(tokens, call.w.p(weight_), x_local, T, c_.padded_vocab, c_.hidden);
    return;
  }
  float* x = io_.partial_buffer(call, x_local);
  kernels::embedding_forward_shard(tokens, call.w.p(weight_), x, T, c_.padded_vocab, v0_, rows_, c_.hidden);
  io_.reduce(call, x, x_local);
}

void Embedding::backward(const BlockCall& call, const std::int32_t* tokens, const float* dx_local) const {
  const std::int64_t T = call.tokens();
  if (!io_.active()) {
    kernels::embedding_backward(tokens, dx_local, call.w.g(weight_), T, c_.padded_vocab, c_.hidden);
    return;
  }
  const float* dx = io_.gather(call, dx_local);
  kernels::embedding_backward_shard(tokens, dx, call.w.g(weight_), T, c_.padded_vocab, v0_, rows_, c_.hidden);
}

}  // namespace primus::model
