// Megatron-Core's TopKRouter: logits = x W_r^T [T, E]; z-loss on the logits; top-k selection
// (softmax or sigmoid scores, pre-softmax, expert bias, group-limited routing, scaling factor —
// kernels/router.hpp); the load-balancing losses on scores recomputed without bias or grouping.
//
// Auxiliary losses are attached as Megatron's MoEAuxLossAutoScaler attaches them: they do not
// change the forward output; backward seeds each one's gradient with MicroBatchState::
// aux_loss_scale (1 / number of micro-batches) and adds it to the router logits' gradient.
//   aux_loss        coeff·E/(k·T²) · Σ_e P_e·N_e over the micro-batch's T tokens
//   seq_aux_loss    the same per sequence (T = seq), averaged over the b sequences
//   global_aux_loss the same with N_e = the token counts accumulated over the global batch's
//                   micro-batches so far, divided by their number
//   z_loss          coeff · mean_t logsumexp_e(logits)²
// P_e = Σ_t s[t,e], s = softmax over all experts (or sigmoid normalised over all experts);
// N_e = tokens whose plain top-k of s includes e.
// Split tokens (sequence and context parallelism): P is this rank's, N and T are the group's
// (Megatron reduces the counts over tensor × context, or tensor × data × context for the global
// loss), so the ranks' losses add up to the loss of the whole batch; the z-loss coefficient is
// divided by the tensor × context size likewise.
// The logged values are Megatron's: each loss divided by its coefficient, summed over micro-
// batches (MoeMetrics).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/block.hpp"

namespace primus::model {

// Per-layer statistics of one training step (reset by the trainer after logging).
struct MoeMetrics {
  // Σ over micro-batches of loss / coeff, per LoadBalancing kind (Aux, SeqAux, GlobalAux).
  std::array<double, 3> balancing{};
  double z_loss = 0.0;  // Σ over micro-batches of z / coeff
};

class TopKRouter {
 public:
  TopKRouter(const BuildContext& ctx, const std::string& prefix, BufferPlan& saved, BufferPlan& scratch);

  // x [T, h] -> indices [T, k] (in saved), probs [T, k] (in saved). Accumulates metrics and, in
  // training, the step's token counts (for the expert bias) and global-aux counts.
  void forward(const BlockCall& call, const float* x);
  // dprobs [T, k] -> dx [T, h] ACCUMULATED (+=), router weight gradient accumulated. Adds the
  // auxiliary losses' gradients.
  void backward(const BlockCall& call, const float* x, const float* dprobs, float* dx);

  const std::int32_t* indices(const BlockCall& call) const;
  const float* probs(const BlockCall& call) const;
  std::int64_t topk() const { return k_; }
  std::int64_t experts() const { return E_; }

  // Routed-token counts (after capacity) of this step's training micro-batches, from the
  // dispatcher; the expert bias is updated from them once per step.
  void count_routed(const std::int32_t* per_expert);
  std::vector<double>& step_token_counts() { return step_counts_; }
  // Expert bias (aux-loss-free balancing) state; empty when disabled.
  std::vector<float>& expert_bias() { return bias_; }
  const std::string& bias_name() const { return bias_name_; }
  // bias += rate · sign(mean(c) − c_e) with c the (reduced) step counts; then counters reset.
  void update_expert_bias(const std::vector<double>& counts);
  // Ends a step: resets the step's counters (global aux-loss accumulation and token counts).
  void end_step();
  MoeMetrics& metrics() { return metrics_; }

 private:
  // Aux-loss scores s [T, E] (softmax or normalised sigmoid over all experts) and their plain
  // top-k routing map counted per column group.
  void aux_scores(const float* logits, float* s, std::int64_t T) const;
  // The load-balancing loss' factor coeff-free: E / (k · T'²) (see above) for this micro-batch's
  // T local tokens in B sequences of S local positions.
  double loss_factor(LoadBalancing kind, std::int64_t T, std::int64_t S, std::int64_t B) const;

  const ModelConfig& c_;
  const MoeConfig& m_;
  const ModelParallel& mp_;
  std::int64_t E_, k_;
  ParamId weight_;
  std::string bias_name_;
  std::vector<float> bias_;
  std::vector<double> step_counts_;
  std::vector<double> global_counts_;  // global_aux_loss: Σ over this step's micro-batches
  std::int64_t global_steps_ = 0;
  MoeMetrics metrics_;
  // saved
  std::int64_t logits_, indices_, probs_, aux_scores_, aux_counts_;
  // scratch
  std::int64_t dlogits_, aux_idx_;
};

}  // namespace primus::model
