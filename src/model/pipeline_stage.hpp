// The model's layers on one process (Megatron's pipeline stage): one or more model chunks
// (virtual pipeline stages of the interleaved schedule), each a range of transformer layers
// [first_layer, first_layer + num_layers); the embedding with the first chunk of the first stage,
// the final norm, output layer, loss (and MTP layers) with the last chunk of the last stage. The
// one-process model is the stage holding everything in one chunk (GPTModel); there is one code path.
//
// Pipeline parallelism runs a chunk's forward and backward per micro-batch (forward_chunk,
// backward_chunk) in one of `activation_slots` activation sets, so that as many micro-batches as
// the schedule keeps in flight hold their activations at once. The chunk that holds the loss runs
// the loss's backward (output layer, MTP, final norm) right after its forward, leaving the
// gradient at its output in the slot; backward_chunk carries it through the layers, leaving the
// gradient at the chunk's input there (what the previous stage receives).
//
// With tied embeddings or MTP under pipeline parallelism the last stage holds a copy of the
// word embeddings (Megatron's shared embedding): both copies start equal (same seed and name),
// and finish_shared_embedding_grads() sums their gradients over the embedding group.
//
// Memory is planned once (llm.c style): one arena holds parameters, gradients, the bf16 weight
// copy, every saved activation and all scratch, sized for the configured micro-batch; a training
// step allocates nothing. Each layer's saved activations are one contiguous set; a recomputed
// layer keeps only its input and re-runs its forward into a set shared by all such layers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "config/args.hpp"
#include "core/aligned.hpp"
#include "core/dtype.hpp"
#include "model/block.hpp"
#include "model/embedding.hpp"
#include "model/model_config.hpp"
#include "model/multi_token_prediction.hpp"
#include "model/moe/moe_layer.hpp"
#include "model/moe/router.hpp"
#include "model/output_layer.hpp"
#include "model/parameter_layout.hpp"
#include "model/rope_table_cache.hpp"
#include "model/transformer_layer.hpp"

namespace primus::model {

// One micro-batch, [batch, seq] each, row-major (b, s); under context parallelism the rank's
// chunks of each sequence (seq = seq_length / cp, parallel/context_parallel.hpp).
struct MicroBatch {
  const std::int32_t* tokens = nullptr;
  const std::int32_t* labels = nullptr;
  const float* loss_mask = nullptr;
  // Context parallelism with multi-token prediction: the whole sequences [batch, seq_length]
  // (MTP shifts tokens across the chunks other ranks hold).
  const std::int32_t* sequence_tokens = nullptr;
  const std::int32_t* sequence_labels = nullptr;
  const float* sequence_loss_mask = nullptr;
};

// Which layers re-run their forward during backward instead of keeping activations
// (Megatron's recompute_granularity=full with recompute_method uniform|block).
struct RecomputePlan {
  std::vector<bool> layers;  // empty: keep everything
  static RecomputePlan from_args(const config::Args& args);
};

// One model chunk.
struct StageRange {
  std::int64_t first_layer = 0, num_layers = 0;
  bool pre_process = true;   // holds the embedding
  bool post_process = true;  // holds the final norm, output layer and loss
  static StageRange whole(const ModelConfig& c) { return StageRange{0, c.num_layers, true, true}; }
};

class PipelineStage {
 public:
  // region_alignment: see ParameterLayout::finalize.
  PipelineStage(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute,
                const StageRange& range, std::int64_t region_alignment = 16, const ModelParallel& parallel = {})
      : PipelineStage(config, micro_batch, recompute, std::vector<StageRange>{range}, 1, region_alignment, parallel) {}
  // chunks: in virtual-stage order; activation_slots: micro-batches each chunk holds at once.
  // embedding_group: the first and last pipeline stage (nullptr: no pipeline parallelism).
  PipelineStage(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute,
                std::vector<StageRange> chunks, std::int64_t activation_slots, std::int64_t region_alignment,
                const ModelParallel& parallel, parallel::Communicator* embedding_group = nullptr);
  ~PipelineStage();
  PipelineStage(const PipelineStage&) = delete;
  PipelineStage& operator=(const PipelineStage&) = delete;

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  std::int64_t num_chunks() const { return static_cast<std::int64_t>(chunks_.size()); }
  const StageRange& chunk(std::int64_t c) const { return chunks_[static_cast<size_t>(c)].range; }
  std::int64_t activation_slots() const { return slots_; }
  bool pre_process() const { return chunks_.front().range.pre_process; }
  bool post_process() const { return chunks_.back().range.post_process; }
  // The word embeddings are a copy kept for the output layer / MTP on the last stage: the norm
  // counts them on the first stage only.
  bool holds_embedding_copy() const { return embedding_ && !pre_process(); }
  ParamId embedding_weight() const { return embedding_ ? embedding_->weight() : kNoParam; }
  std::int64_t micro_batch() const { return batch_; }
  // This rank's part of each sequence: seq_length / context_parallel_size positions (its two chunks).
  std::int64_t local_seq() const { return seq_; }
  std::int64_t tokens_per_micro_batch() const { return batch_ * seq_; }
  // Tokens of the rank's sequence shard (= tokens_per_micro_batch() without sequence parallelism).
  std::int64_t local_tokens() const { return tokens_per_micro_batch() / parallel_.sp(); }
  const ModelParallel& parallel() const { return parallel_; }

  float* params() { return arena_.get(params_); }
  const float* params() const { return const_cast<Arena&>(arena_).get(params_); }
  float* grads() { return arena_.get(grads_); }
  std::int64_t num_params() const { return layout_.total(); }  // floats, incl. alignment padding
  std::int64_t parameter_count() const;                       // real parameters held here
  // The bf16 compute copy (mixed precision), or nullptr in fp32.
  bf16* params_bf16() { return config_.bf16 ? arena_.get(params_bf16_) : nullptr; }
  std::size_t arena_bytes() const { return arena_.bytes(); }

  // Megatron's initialisation, seeded: every element of a parameter's global tensor has a value
  // that depends only on (seed, parameter name, element), so any thread count and any split of
  // the model across processes initialise the same model.
  void initialize(std::uint64_t seed);
  // Call after parameters change outside the optimizer (init, load): refreshes the bf16 copy.
  void parameters_changed();
  void zero_grads();

  // Called during backward with [begin, end) ranges of the flat gradient buffer that are final
  // for this micro-batch (a layer's parameters, the output layer, the embedding), in backward
  // order; data parallelism starts reducing a bucket as soon as all of it is final.
  void set_grad_ready_hook(std::function<void(std::int64_t begin, std::int64_t end)> hook) {
    grad_ready_hook_ = std::move(hook);
  }
  // Called during forward (training and evaluation) with the [begin, end) ranges of the flat
  // parameter buffer a block is about to read, in forward order; the distributed optimizer's
  // overlapped parameter all-gather waits there for the buckets holding them.
  void set_params_needed_hook(std::function<void(std::int64_t begin, std::int64_t end)> hook) {
    params_needed_hook_ = std::move(hook);
  }

  // Forward and backward of one micro-batch. Gradients of  loss_weight · Σ_t loss_t·mask_t  (plus
  // the auxiliary losses, scaled by state.aux_loss_scale) are ACCUMULATED into grads().
  // Returns Σ_t loss_t·mask_t.
  double forward_backward(const MicroBatch& batch, float loss_weight, const MicroBatchState& state = {});
  // Forward only: Σ_t loss_t·mask_t. logits (optional) receives [tokens, padded_vocab]. With a
  // training state the MoE layers also compute (and accumulate into their metrics) their
  // auxiliary losses, as a training forward does.
  double forward_loss(const MicroBatch& batch, float* logits = nullptr, const MicroBatchState& state = eval_state());

  // Pipeline entry points, [local_tokens, h] each. A chunk without the embedding reads its input
  // from chunk_input (the previous stage's output, received there); chunk_output is what the next
  // stage receives; chunk_grad receives the gradient at the output (a chunk without the loss) and
  // holds the gradient at the input after backward_chunk (sent to the previous stage).
  float* chunk_input(std::int64_t c, std::int64_t slot);
  const float* chunk_output(std::int64_t c, std::int64_t slot);
  float* chunk_grad(std::int64_t c, std::int64_t slot);
  // Training forward of chunk c into the slot (the loss chunk: with the loss's backward, weighted
  // as forward_backward); returns Σ loss·mask on the loss chunk, else 0.
  double forward_chunk(std::int64_t c, std::int64_t slot, const MicroBatch& batch, float loss_weight,
                       const MicroBatchState& state);
  void backward_chunk(std::int64_t c, std::int64_t slot, const MicroBatch& batch, const MicroBatchState& state);
  // Forward only (evaluation): keeps nothing; Σ loss·mask on the loss chunk, else 0.
  double forward_chunk_only(std::int64_t c, std::int64_t slot, const MicroBatch& batch, float* logits,
                            const MicroBatchState& state);
  // Pipeline parallelism with shared word embeddings: sums their gradient over the embedding
  // group (first and last stage; Megatron's _allreduce_word_embedding_grads), then reports it
  // final. Call after the step's last backward, before the data-parallel reduction finishes.
  void finish_shared_embedding_grads(const MicroBatchState& state);
  static MicroBatchState eval_state() {
    MicroBatchState s;
    s.training = false;
    return s;
  }

  // Generation with a KV cache (pipeline_stage_decode.cpp; a stage holding the whole model):
  // make_kv_cache allocates the cache for `capacity` positions of one sequence; decode runs n new
  // tokens (any n: processed in chunks of at most tokens_per_micro_batch()) at positions
  // [cache.length, cache.length + n) through every layer, appends their keys and values, and
  // writes the last token's logits [padded_vocab] (the main model's; MTP takes no part).
  KvCache make_kv_cache(std::int64_t capacity) const;
  void decode(const std::int32_t* tokens, std::int64_t n, KvCache& cache, float* logits);

  // Σ over the micro-batches since the last call of each MTP depth's loss_k / Σ mask_k (what
  // Megatron logs as 'mtp_k loss', before dividing by the number of micro-batches); resets.
  std::vector<double> take_mtp_losses();
  const std::vector<double>& mtp_losses() const { return mtp_losses_; }

  // State that is not a parameter but belongs to the model (checkpoints, weight files): the
  // routers' expert biases, under Megatron's names (decoder.layers.{i}.mlp.router.expert_bias).
  struct NamedBuffer {
    std::string name;
    std::vector<float>* values;
  };
  std::vector<NamedBuffer> buffers() const;

  // The routers of this stage's MoE layers (layer order), for the expert-bias update and logging.
  const std::vector<TopKRouter*>& routers() const { return routers_; }
  // The MoE layers themselves (same order), with their prefixes ("decoder.layers.1.").
  const std::vector<std::pair<std::string, MoeLayer*>>& moe_layers() const { return moe_layers_; }

 private:
  struct Chunk {
    StageRange range;
    std::size_t first = 0;  // index of its first layer in layers_
    std::vector<Arena::Slot<float>> residual;            // per slot: [num_layers + 1, T, h]
    std::vector<std::vector<Arena::Slot<float>>> saved;  // per slot, per layer (count 0: recomputed)
    std::vector<Arena::Slot<float>> grad;                // per slot: [T, h]
  };
  void forward_layers(Chunk& chunk, std::int64_t slot, const MicroBatch& batch, bool keep_activations,
                      const MicroBatchState& state);
  // The loss chunk after its layers: final norm, output layer and loss (and MTP); with dres the
  // loss's backward through the final norm into dres.
  double head(Chunk& chunk, std::int64_t slot, const MicroBatch& batch, float loss_weight, float* dres,
              float* logits, const MicroBatchState& state);
  bool shares_embedding_over_pipeline() const {
    return embedding_group_ && pre_process() != post_process() && (config_.tied_embeddings || config_.mtp_layers > 0);
  }
  BlockCall call(float* saved, const MicroBatchState& state);
  // Gradients of [first, last) are final for this step (state.finalize_grads): replicated
  // parameters' partial gradients are summed over the tensor-parallel group, then the hook runs.
  void grads_ready(ParamId first, ParamId last, const MicroBatchState& state);
  void run_mtp(const MicroBatch& batch, const MicroBatchState& state, float* dh0);
  void params_needed(ParamId first, ParamId last);
  // Calls hook with the range of [first, last) in each region.
  static void for_each_region_range(const ParameterLayout& layout, ParamId first, ParamId last,
                                    const std::function<void(std::int64_t, std::int64_t)>& hook);
  StageWeights weights();

  ModelConfig config_;
  std::vector<Chunk> chunks_;
  std::int64_t slots_;
  ModelParallel parallel_;
  parallel::Communicator* embedding_group_;
  std::int64_t batch_;
  std::int64_t seq_;                     // sequence positions on this rank (context parallelism)
  std::vector<std::int32_t> positions_;  // their global positions (rotary embeddings), with CP
  RecomputePlan recompute_;
  ParameterLayout layout_;
  RopeTableCache rope_tables_;
  LinearNeeds linear_needs_;
  std::unique_ptr<Embedding> embedding_;
  std::vector<std::unique_ptr<TransformerLayer>> layers_;
  std::vector<std::pair<ParamId, ParamId>> layer_params_;  // [first, last) ids per layer
  std::unique_ptr<OutputLayer> output_;
  std::unique_ptr<MultiTokenPrediction> mtp_;
  std::vector<double> mtp_losses_;
  ParamId final_norm_w_ = kNoParam, final_norm_b_ = kNoParam;
  std::function<void(std::int64_t, std::int64_t)> grad_ready_hook_, params_needed_hook_;
  std::vector<TopKRouter*> routers_;
  std::vector<std::pair<std::string, MoeLayer*>> moe_layers_;

  Arena arena_;
  Arena::Slot<float> params_, grads_;
  Arena::Slot<bf16> params_bf16_, cast_a_, cast_b_;
  Arena::Slot<float> bias_ws_, norm_ws_;
  Arena::Slot<float> final_out_, final_mean_, final_rstd_, tmp_, y_scratch_;
  Arena::Slot<float> scratch_;         // shared by all blocks
  Arena::Slot<float> shared_set_;          // recompute and evaluation
  Arena::Slot<float> mtp_set_, mtp_own_;
  LinearScratch linear_{};
};

}  // namespace primus::model
