// Multi-token prediction (DeepSeek V3; Megatron-Core's MultiTokenPredictionBlock), on the last
// stage after the decoder's final norm. Depth k = 1..D predicts the token k+1 places ahead:
//
//   ids_k, labels_k, mask_k = ids, labels, mask rolled left k places per sequence (zero-filled)
//   x_k   = eh_proj([enorm(embedding(ids_k)) ; hnorm(h_{k-1})])        [T, 2h] -> [T, h]
//   h_k   = final_layernorm(transformer_layer(x_k))                    h_0 = the decoder's output
//   loss_k = Σ_t CE(output_layer(h_k), labels_k)·mask_k                 (embedding and output layer
//                                                                        shared with the main model)
// Its objective adds (mtp_loss_scaling_factor / D) · loss_k / max(1, Σ mask_k) per micro-batch
// (times the micro-batch scale, as Megatron's MTPLossAutoScaler); the log shows loss_k / Σ mask_k.
// Under context parallelism a rank holds two chunks of each sequence: the token k places after its
// last position may be on another rank, so ids, labels and mask are rolled from the whole
// sequences at the rank's positions (Megatron exchanges the boundary elements between CP ranks)
// and Σ mask_k counts the whole micro-batch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/block.hpp"
#include "model/embedding.hpp"
#include "model/output_layer.hpp"
#include "model/transformer_layer.hpp"

namespace primus::model {

class MultiTokenPrediction {
 public:
  MultiTokenPrediction(const BuildContext& ctx, BufferPlan& saved, BufferPlan& scratch);
  ~MultiTokenPrediction();

  std::int64_t depth() const { return static_cast<std::int64_t>(layers_.size()); }
  std::int64_t scratch_floats() const;
  TransformerLayer& layer(std::int64_t k) const;
  // ParamIds declared by depth k (for the gradient-ready hook).
  std::pair<ParamId, ParamId> params_of(std::int64_t k) const { return params_[static_cast<size_t>(k)]; }

  // Buffers of one call: `call` is the stage's (its scratch is shared with the layers and the
  // output layer); set is this micro-batch's MTP activation set; own is MTP's private scratch.
  struct Buffers {
    float* set;
    float* own;
  };
  // Forward of every depth from h0 [T, h] (kept by the caller until backward), then each depth's
  // loss Σ_t CE·mask_k and Σ mask_k (loss_sums, mask_sums: [D]; Σ mask_k over the whole
  // micro-batch). tokens, labels and mask are the whole sequences [batch, seq_length] (with
  // context parallelism; otherwise the rank's, which are the same). With dh0 (training), the
  // objective's gradient flows back into the weights (the shared embedding and output layer
  // included) and d h0 is ACCUMULATED into dh0; grads_ready(first, last) after each depth.
  void run(const BlockCall& call, const Buffers& buf, const Embedding& embedding, const OutputLayer& output,
           const std::int32_t* tokens, const std::int32_t* labels, const float* mask, const float* h0, float* dh0,
           double* loss_sums, double* mask_sums, const std::function<void(ParamId, ParamId)>& grads_ready);

 private:
  struct Depth;
  // ids, labels and mask rolled left k places per sequence into the private scratch, at this
  // rank's positions; returns Σ of the whole micro-batch's rolled mask.
  double roll(const BlockCall& call, const Buffers& buf, std::int64_t k, const std::int32_t* tokens,
              const std::int32_t* labels, const float* mask) const;

  const ModelConfig& c_;
  std::vector<std::unique_ptr<Depth>> layers_;
  std::vector<std::pair<ParamId, ParamId>> params_;
  std::int64_t layer_scratch_ = 0;
  std::int64_t sp_ = 1;
  const std::int32_t* positions_ = nullptr;  // context parallelism: global positions of the local tokens
  std::int64_t global_seq_ = 0;              // tokens per whole sequence
  // scratch
  std::int64_t ids_, labels_, mask_, tmp_, dcat_, dx_, dh_, norm_ws_;
};

}  // namespace primus::model
