// One pre-norm transformer layer of a Llama-family decoder, forward and backward:
//
//   x_mid = x + linear_proj(attention(rope(qk_norm(linear_qkv(norm1(x))))))
//   y     = x_mid + linear_fc2(act(linear_fc1(norm2(x_mid))))        act = SwiGLU or GeLU
//
// Shapes (T = batch·seq tokens, rows ordered (b, s)): x, x_mid, y [T, h]; qkv [T, (n+2g)·d] as
// [q | k | v] columns; attn [T, n·d]; fc1 [T, 2f] (SwiGLU: cat(gate, up)) or [T, f]; act [T, f].
#pragma once

#include <cstdint>

#include "core/dtype.hpp"
#include "model/linear.hpp"
#include "model/model_config.hpp"
#include "model/parameter_layout.hpp"

namespace primus::model {

// What a layer's backward needs from its forward (owned by the model's arena).
struct LayerActivations {
  float* ln1_out;    // [T, h]
  float* ln1_mean;   // [T] (LayerNorm)
  float* ln1_rstd;   // [T]
  float* qkv;        // [T, qkv]: q, k after qk-norm and rope; v
  float* q_raw;      // [T, n·d] q before qk-norm (qk_layernorm only)
  float* k_raw;      // [T, g·d]
  float* q_mean;     // [T·n] (qk LayerNorm)
  float* q_rstd;     // [T·n]
  float* k_mean;     // [T·g]
  float* k_rstd;     // [T·g]
  float* attn;       // [T, n·d]
  float* lse;        // [b, n, s]
  float* x_mid;      // [T, h]
  float* ln2_out;    // [T, h]
  float* ln2_mean;   // [T]
  float* ln2_rstd;   // [T]
  float* fc1;        // [T, fc1]
  float* act;        // [T, f]
};

// Scratch shared by all layers (sizes in layer_workspace_floats / the model's planner).
struct LayerScratch {
  float* tmp_h;      // [T, h]
  float* d_mid;      // [T, max(f, n·d)]
  float* d_big;      // [T, max(fc1, qkv)]
  float* qk_tmp;     // [T, n·d] contiguous q or k for qk-norm
  float* norm_ws;
  float* attn_ws;
  std::size_t attn_ws_floats;
  const float* rope_table;  // rope_tables(cfg, seq)
  LinearScratch linear;
};

struct LayerShape {
  std::int64_t batch, seq;
  std::int64_t tokens() const { return batch * seq; }
};

// Parameters and gradients of one layer, resolved to pointers.
struct LayerParams {
  const LayerOffsets* off;
  const float* params;
  const bf16* params_bf16;  // nullptr in fp32
  float* grads;
};

// x [T, h] -> y [T, h]; fills `a`.
void layer_forward(const ModelConfig& c, const LayerParams& p, const LayerShape& shape, const float* x, float* y,
                   LayerActivations& a, const LayerScratch& s);

// dy [T, h] (gradient of y) and x (the layer input) -> dx [T, h] (overwritten; may alias dy);
// parameter gradients accumulated. Consumes `a` (some buffers are overwritten in place).
void layer_backward(const ModelConfig& c, const LayerParams& p, const LayerShape& shape, const float* x,
                    float* dy_dx, LayerActivations& a, const LayerScratch& s);

}  // namespace primus::model
