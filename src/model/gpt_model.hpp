// The GPT decoder (Megatron-Core's GPTModel for Llama-family configs) on one process: embedding,
// transformer layers, final norm, output layer and the masked cross-entropy loss.
//
// Memory is planned once (llm.c style): one arena holds parameters, gradients, the bf16 weight
// copy, every saved activation and all scratch, sized for the configured micro-batch; a training
// step allocates nothing. The output layer and the loss run over chunks of tokens, forward and
// backward together, so the [tokens, vocab] logits are never held whole.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.hpp"
#include "core/dtype.hpp"
#include "model/model_config.hpp"
#include "model/parameter_layout.hpp"
#include "model/transformer_layer.hpp"

namespace primus::model {

// One micro-batch, [batch, seq] each, row-major (b, s).
struct MicroBatch {
  const std::int32_t* tokens = nullptr;
  const std::int32_t* labels = nullptr;
  const float* loss_mask = nullptr;
};

// Which layers re-run their forward during backward instead of keeping activations
// (Megatron's recompute_granularity=full with recompute_method uniform|block).
struct RecomputePlan {
  std::vector<bool> layers;  // empty: keep everything
  static RecomputePlan from_args(const config::Args& args);
};

class GPTModel {
 public:
  GPTModel(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute);

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  std::int64_t micro_batch() const { return batch_; }
  std::int64_t tokens_per_micro_batch() const { return batch_ * config_.seq_length; }

  float* params() { return arena_.get(params_); }
  const float* params() const { return const_cast<Arena&>(arena_).get(params_); }
  float* grads() { return arena_.get(grads_); }
  std::int64_t num_params() const { return layout_.total(); }   // floats, incl. alignment padding
  std::int64_t parameter_count() const;                        // real parameters
  // The bf16 compute copy (mixed precision), or nullptr in fp32.
  bf16* params_bf16() { return config_.bf16 ? arena_.get(params_bf16_) : nullptr; }
  std::size_t arena_bytes() const { return arena_.bytes(); }

  // Megatron's initialisation, seeded; identical for any thread count.
  void initialize(std::uint64_t seed);
  // Call after parameters change outside the optimizer (init, load): refreshes the bf16 copy.
  void parameters_changed();
  void zero_grads();

  // Forward and backward of one micro-batch. Gradients of  loss_weight · Σ_t loss_t·mask_t  are
  // ACCUMULATED into grads(). Returns Σ_t loss_t·mask_t.
  double forward_backward(const MicroBatch& batch, float loss_weight);
  // Forward only: Σ_t loss_t·mask_t. logits (optional) receives [tokens, padded_vocab].
  double forward_loss(const MicroBatch& batch, float* logits = nullptr);

 private:
  void forward_layers(const MicroBatch& batch, bool keep_activations);
  double output_and_loss(const MicroBatch& batch, bool backward, float loss_weight, float* logits);
  LayerParams layer_params(std::int64_t l);
  LayerActivations carve_activations(std::vector<Arena::Slot<float>>& slots);

  ModelConfig config_;
  ParameterLayout layout_;
  std::int64_t batch_;
  RecomputePlan recompute_;
  std::int64_t chunk_;  // tokens per output-layer chunk

  Arena arena_;
  Arena::Slot<float> params_, grads_;
  Arena::Slot<bf16> params_bf16_, scratch_a_, scratch_b_;
  Arena::Slot<float> residual_;        // [L+1, T, h] layer inputs/outputs
  Arena::Slot<float> final_out_, final_mean_, final_rstd_, dres_, y_scratch_;
  Arena::Slot<float> logits_, losses_, lse_, dloss_;
  Arena::Slot<float> tmp_h_, d_mid_, d_big_, qk_tmp_, norm_ws_, bias_ws_, attn_ws_, rope_table_;
  std::vector<std::vector<Arena::Slot<float>>> saved_slots_;  // per layer (empty: recomputed)
  std::vector<Arena::Slot<float>> scratch_slots_;
  std::vector<LayerActivations> saved_;
  LayerActivations scratch_acts_{};
  LayerScratch scratch_{};
};

}  // namespace primus::model
