// The pieces a transformer layer is made of (Megatron-Core's layer spec): an attention block
// (self-attention with GQA/MHA, or multi-latent attention) and an MLP block (dense, or MoE).
// Each block
//   * declares its parameters (global shapes and shards) in the stage's ParameterLayout when it
//     is built,
//   * plans the activations its backward needs (its part of the layer's activation set) and the
//     scratch it uses (a region shared by all blocks, since blocks run one at a time),
//   * computes forward and backward of one micro-batch; communication that a parallel layout
//     needs happens at the block's boundary, never inside kernels.
// A block is the only place that knows its math.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.hpp"
#include "model/buffer_plan.hpp"
#include "model/kv_cache.hpp"
#include "model/linear.hpp"
#include "model/model_config.hpp"
#include "model/model_parallel.hpp"
#include "model/parameter_layout.hpp"
#include "model/rope_table_cache.hpp"

namespace primus::model {

// The stage's flat buffers, resolved per parameter.
struct StageWeights {
  const ParameterLayout* layout = nullptr;
  float* params = nullptr;
  const bf16* params_bf16 = nullptr;  // nullptr in fp32
  float* grads = nullptr;

  const float* p(ParamId id) const { return id == kNoParam ? nullptr : params + layout->offset(id); }
  float* p_mut(ParamId id) const { return id == kNoParam ? nullptr : params + layout->offset(id); }
  const bf16* p16(ParamId id) const {
    return (id == kNoParam || !params_bf16) ? nullptr : params_bf16 + layout->offset(id);
  }
  float* g(ParamId id) const { return id == kNoParam ? nullptr : grads + layout->offset(id); }
  LinearWeights linear(ParamId w, ParamId b, std::int64_t in, std::int64_t out) const {
    return LinearWeights{p(w), p16(w), p(b), g(w), g(b), in, out};
  }
};

// Per-micro-batch settings every block sees.
struct MicroBatchState {
  bool training = true;        // false: evaluation (no statistics are accumulated)
  // Megatron's MoEAuxLossAutoScaler / MTPLossAutoScaler scale: the gradient of each auxiliary
  // loss is seeded with this (1 / number of micro-batches).
  float aux_loss_scale = 1.0f;
  // The step's last micro-batch: gradients are final after its backward (replicated parameters'
  // partial gradients are summed over the tensor-parallel group then, once).
  bool finalize_grads = true;
};

// One call of a block: where its saved activations and the shared scratch are.
struct BlockCall {
  const StageWeights& w;
  std::int64_t batch = 0, seq = 0;  // this micro-batch on this rank: tokens = batch * seq, rows (b, s)
  float* saved = nullptr;           // base of the layer's activation set (blocks add their offsets)
  float* scratch = nullptr;         // base of the shared block scratch
  const LinearScratch& linear;
  const MicroBatchState& state;

  std::int64_t tokens() const { return batch * seq; }
  float* at_saved(std::int64_t offset) const { return saved + offset; }
  float* at_scratch(std::int64_t offset) const { return scratch + offset; }
};

// The largest linear layer of a stage, which sizes the bf16 cast buffers and the bias workspace.
struct LinearNeeds {
  std::int64_t elements = 0;  // max rows * max(in, out)
  std::int64_t width = 0;     // max(in, out)
  void need(std::int64_t rows, std::int64_t in, std::int64_t out) {
    const std::int64_t wide = in > out ? in : out;
    if (rows * wide > elements) elements = rows * wide;
    if (wide > width) width = wide;
  }
};

// What a block gets while the stage is being built.
struct BuildContext {
  const ModelConfig& config;
  ParameterLayout& layout;
  RopeTableCache& rope_tables;
  LinearNeeds& linear;
  const ModelParallel& parallel;
  std::int64_t batch = 0, seq = 0;  // micro-batch shape on this rank (its context-parallel chunks)
  // Context parallelism: the global position of each of the seq sequence indices this rank holds
  // (nullptr: 0..seq-1), and the whole sequence's length, which rotary tables cover.
  const std::int32_t* positions = nullptr;
  std::int64_t global_seq = 0;
  std::int64_t tokens() const { return batch * seq; }
  // Tokens of the rank's sequence shard (sequence parallelism), where norms and residuals live.
  std::int64_t local_tokens() const { return batch * seq / parallel.sp(); }
};

// x is the layer's normalised input, y the branch output (added to the residual by the layer);
// backward: dy -> dx (overwritten); parameter gradients accumulate. Both are the layer's tokens:
// the whole sequence [T, h], or this rank's sequence shard [T/sp, h] under sequence parallelism —
// a tensor-parallel block gathers, reduces and scatters at its own boundary (tensor_parallel_io).
class Block {
 public:
  virtual ~Block() = default;
  virtual std::int64_t scratch_floats() const = 0;
  virtual void forward(const BlockCall& call, const float* x, float* y) = 0;
  virtual void backward(const BlockCall& call, const float* x, const float* dy, float* dx) = 0;
};

class AttentionBlock : public Block {
 public:
  // Decoding with a KV cache (generation; each block's *_decode.cpp): x [n, h] are n new tokens
  // at positions [cache.length, cache.length + n) of one sequence (call.batch 1, call.seq n);
  // their keys and values are written to `layer` at those positions and y [n, h] is the branch
  // output, attending to every cached position up to each token's own.
  virtual KvWidths kv_widths() const = 0;
  virtual void decode(const BlockCall& call, const float* x, float* y, KvCache& cache, KvCache::Layer& layer) = 0;
};

class MlpBlock : public Block {};

}  // namespace primus::model
