// A range of the model's layers on one process (Megatron's pipeline stage): the embedding on the
// first stage, transformer layers [first_layer, first_layer + num_layers), and the final norm,
// output layer and loss on the last. The one-process model is the stage holding everything
// (GPTModel); there is one code path.
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
                const StageRange& range, std::int64_t region_alignment = 16, const ModelParallel& parallel = {});
  ~PipelineStage();
  PipelineStage(const PipelineStage&) = delete;
  PipelineStage& operator=(const PipelineStage&) = delete;

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  const StageRange& range() const { return range_; }
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
  static MicroBatchState eval_state() {
    MicroBatchState s;
    s.training = false;
    return s;
  }

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
  void forward_layers(const MicroBatch& batch, bool keep_activations, const MicroBatchState& state);
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
  StageRange range_;
  ModelParallel parallel_;
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
  Arena::Slot<float> residual_;        // [num_layers + 1, T, h] layer inputs/outputs
  Arena::Slot<float> final_out_, final_mean_, final_rstd_, dres_, tmp_, y_scratch_;
  Arena::Slot<float> scratch_;         // shared by all blocks
  std::vector<Arena::Slot<float>> saved_;  // per layer (count 0: recomputed)
  Arena::Slot<float> shared_set_;          // recompute and evaluation
  Arena::Slot<float> mtp_set_, mtp_own_;
  LinearScratch linear_{};
};

}  // namespace primus::model
