// MLP activations, forward and backward.
//  * SwiGLU (Llama; Megatron --swiglu): fc1 produces [rows, 2*ffn] laid out as cat(gate, up)
//    per row (Megatron's chunk(2, dim=-1) order); out = silu(gate) * up, [rows, ffn].
//  * GELU: exact erf form (PyTorch F.gelu default, Megatron's default activation) or the tanh
//    approximation (Megatron --openai-gelu and its fused bias-gelu path).
// Hand-written: fused so that fc1's output is read once and only what backward needs is kept
// (the pre-activation input itself). All forms are vectorised (16 lanes); erf uses the
// Abramowitz-Stegun 7.1.26 polynomial (|error| < 1.5e-7), so GELU matches F.gelu to ~1e-7.
#pragma once

#include <cstdint>

namespace primus::kernels {

// in [rows, 2*ffn] = cat(gate, up) -> out [rows, ffn].
void swiglu_forward(const float* in, float* out, std::int64_t rows, std::int64_t ffn);
// dout [rows, ffn], in [rows, 2*ffn] (forward input) -> din [rows, 2*ffn] (overwritten;
// may alias in).
void swiglu_backward(const float* dout, const float* in, float* din, std::int64_t rows,
                     std::int64_t ffn);

enum class GeluKind { Erf, Tanh };

// x [n] -> y [n] (may alias x).
void gelu_forward(const float* x, float* y, std::int64_t n, GeluKind kind = GeluKind::Erf);
// dy [n], x [n] (forward input) -> dx [n] (may alias dy or x).
void gelu_backward(const float* dy, const float* x, float* dx, std::int64_t n,
                   GeluKind kind = GeluKind::Erf);

}  // namespace primus::kernels
