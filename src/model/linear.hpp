// A linear layer y = x W^T (+ b) over [tokens, features] rows, forward and backward, in fp32 or
// with bf16 GEMM operands (mixed precision: the bf16 weight copy is kept by the optimizer;
// activations and output gradients are cast into caller-owned scratch right before each GEMM;
// results and gradients stay fp32).
#pragma once

#include <cstdint>

#include "core/dtype.hpp"

namespace primus::model {

struct LinearWeights {
  const float* w = nullptr;        // [out, in] fp32 master weight
  const bf16* w_bf16 = nullptr;    // same, bf16 copy (mixed precision only)
  const float* b = nullptr;        // [out] or nullptr
  float* dw = nullptr;             // [out, in] gradient, accumulated
  float* db = nullptr;             // [out] gradient, accumulated (nullptr when no bias)
  std::int64_t in = 0, out = 0;
  // Row counts that change every call (MoE experts: rows depend on routing) use one oneDNN
  // primitive for all sizes instead of one per size.
  bool dynamic_rows = false;
};

// Scratch for the bf16 casts: two buffers of at least tokens × max(in, out) values each, plus
// the bias-gradient workspace.
struct LinearScratch {
  bf16* a = nullptr;
  bf16* b = nullptr;
  float* bias_ws = nullptr;
};

// x [tokens, in] -> y [tokens, out] (overwritten).
void linear_forward(const LinearWeights& l, const float* x, float* y, std::int64_t tokens, const LinearScratch& s);

// dy [tokens, out], x [tokens, in] (the forward input) -> dx [tokens, in] (overwritten; skipped
// when nullptr), dW and db accumulated.
void linear_backward(const LinearWeights& l, const float* dy, const float* x, float* dx, std::int64_t tokens,
                     const LinearScratch& s);

}  // namespace primus::model
