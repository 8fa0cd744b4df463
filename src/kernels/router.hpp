// MoE top-k router scores (Megatron TopKRouter, moe_utils.topk_routing_with_score_function;
// capacity dropping is the token dispatcher's): given router logits [tokens, experts], pick k
// experts per token and their combine weights.
//   Softmax, post (default):  idx = topk(logits);  probs = softmax(logits[idx])
//   Softmax, pre (--moe-router-pre-softmax): s = softmax(logits); idx = topk(s); probs = s[idx]
//   Sigmoid (--moe-router-score-function sigmoid): s = sigmoid(logits); idx = topk(s);
//           probs = s[idx] / (sum s[idx] + 1e-20) when k > 1, else s[idx]
// then probs *= scaling_factor (--moe-router-topk-scaling-factor; 1 when unset).
// Expert bias (sigmoid only, aux-loss-free balancing): experts are SELECTED on s + bias, the
// probabilities are gathered from the unbiased s.
// Group-limited routing (--moe-router-num-groups G, --moe-router-group-topk g): the experts form G
// equal consecutive groups; a group's score is the sum of its top (k / g) selection scores; only
// the top g groups' experts are candidates for the top-k.
// Indices are sorted by descending score; ties go to the lower expert index (and the lower
// group index), which is what torch.topk returns on CPU for distinct values — the fidelity
// fixtures keep every decision away from ties.
// The load-balancing auxiliary loss is router_aux_loss below.
// Hand-written: tiny per-token work (experts <= a few hundred) that no library fuses.
#pragma once

#include <cstdint>

namespace primus::kernels {

enum class RouterScore { Softmax, Sigmoid };

struct RouterConfig {
  std::int64_t experts = 0;
  std::int64_t topk = 0;  // 1 <= topk <= experts
  RouterScore score = RouterScore::Softmax;
  bool pre_softmax = false;  // only with Softmax
  float scaling_factor = 1.0f;
  std::int64_t num_groups = 0;  // 0: no group-limited routing
  std::int64_t group_topk = 0;
};

// logits [tokens, experts] -> probs [tokens, topk], indices [tokens, topk]. expert_bias
// [experts] or nullptr (sigmoid only).
void router_topk_forward(const RouterConfig& cfg, const float* logits, float* probs,
                         std::int32_t* indices, std::int64_t tokens,
                         const float* expert_bias = nullptr);

// dprobs [tokens, topk] (+ forward's logits and indices) -> dlogits [tokens, experts]
// (overwritten; zero for experts a token did not pick, except under pre-softmax where every
// logit receives gradient through the normalisation).
void router_topk_backward(const RouterConfig& cfg, const float* logits,
                          const std::int32_t* indices, const float* dprobs, float* dlogits,
                          std::int64_t tokens);

// Switch-transformer load-balancing loss (Megatron --moe-router-load-balancing-type aux_loss):
//   s = softmax(logits) over all experts, f_e = tokens routed to expert e (from indices),
//   loss = coeff * experts / (topk * tokens^2) * sum_e f_e * sum_t s[t, e].
// Returns the loss and ACCUMULATES grad_scale * d(loss)/d(logits) into dlogits [tokens, experts]
// (grad_scale: what the trainer multiplies this loss by, e.g. 1/num_microbatches).
float router_aux_loss(const float* logits, const std::int32_t* indices, std::int64_t tokens,
                      std::int64_t experts, std::int64_t topk, float coeff, float grad_scale,
                      float* dlogits);

}  // namespace primus::kernels
