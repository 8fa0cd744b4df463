// Optimizer updates over flat fp32 parameter ranges (parameters live in one flat buffer per
// dtype; a parameter group is a contiguous range, so callers invoke these once per group).
//
//  * AdamW as torch.optim.AdamW (= Megatron/apex FusedAdam with adam_w_mode):
//        p -= lr * weight_decay * p                       (decoupled decay)
//        m  = beta1 m + (1 - beta1) g
//        v  = beta2 v + (1 - beta2) g^2
//        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//    Groups without decay (Megatron: biases and norm weights) pass weight_decay = 0.
//  * SGD with momentum as torch.optim.SGD (dampening 0):
//        g += weight_decay * p;  buf = g on the first step, else momentum * buf + g;
//        p -= lr * (nesterov ? g + momentum * buf : buf)
// Hand-written: one fused, vectorised pass; optionally also writes the bf16 compute copy of the
// updated parameters so that the weights are not read a second time for the cast.
#pragma once

#include <cstdint>

#include "core/dtype.hpp"

namespace primus::kernels {

struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  std::int64_t step = 1;  // 1-based: bias correction uses beta^step
};

// param, grad, exp_avg (m), exp_avg_sq (v): [n] each, fp32. m/v start at 0.
// param_bf16: optional [n] output = bf16(param) after the update (nullptr to skip).
void adamw_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                std::int64_t n, const AdamWParams& p, bf16* param_bf16 = nullptr);

struct SgdParams {
  float lr = 1e-2f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  bool first_step = true;  // momentum buffer initialised from the gradient
};

// param, grad [n]; momentum_buf [n] (unused and may be nullptr when momentum == 0).
void sgd_step(float* param, const float* grad, float* momentum_buf, std::int64_t n,
              const SgdParams& p, bf16* param_bf16 = nullptr);

}  // namespace primus::kernels
