// Megatron-Core's LanguageModelEmbedding (word embeddings only: rotary models add no position
// table): x[t] = W[token[t]], W [padded_vocab, h]. Under tensor parallelism the table is split
// by vocabulary rows (VocabParallelEmbedding): each rank looks up the tokens it holds, zero
// elsewhere, and the group's sum completes the lookup (reduce-scattered to the sequence shard
// under sequence parallelism).
#pragma once

#include <cstdint>

#include "model/block.hpp"
#include "model/tensor_parallel_io.hpp"

namespace primus::model {

class Embedding {
 public:
  // scratch: where its staging buffers live (a region no block uses at the same time).
  Embedding(const BuildContext& ctx, BufferPlan& scratch);

  ParamId weight() const { return weight_; }
  std::int64_t first_row() const { return v0_; }
  std::int64_t rows() const { return rows_; }
  // tokens [T] (the whole sequence) -> x_local [T/sp, h].
  void forward(const BlockCall& call, const std::int32_t* tokens, float* x_local) const;
  // dx_local [T/sp, h] -> dW accumulated.
  void backward(const BlockCall& call, const std::int32_t* tokens, const float* dx_local) const;

 private:
  const ModelConfig& c_;
  const ModelParallel& mp_;
  ParamId weight_;
  std::int64_t v0_, rows_;
  TensorParallelIo io_;
};

}  // namespace primus::model
