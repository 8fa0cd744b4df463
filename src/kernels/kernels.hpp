// The kernel library in one include. Every operation lives in its own header, forward and
// backward side by side, with the shapes on each function. Conventions shared by all of them:
//
//  * Row-major, dense, fp32 activations and gradients unless a signature says bf16; sizes are
//    std::int64_t element counts; pointers are caller-owned (allocate once from an Arena).
//  * Kernels never allocate on their hot path. Those that need scratch take a `workspace`
//    pointer whose size comes from the matching *_workspace() function (norm and bias
//    backward: 32*cols floats; attention: see attention.hpp); oneDNN GEMM primitives and
//    their scratchpads are cached per shape inside gemm().
//  * Parameter gradients (dweight, dbias, dtable, GEMM with accumulate=true) ACCUMULATE (+=),
//    so gradient accumulation over micro-batches needs no extra pass; activation gradients
//    (dx) are overwritten. Where a comment says "may alias", the kernel works in place.
//  * Results are deterministic: reductions use fixed chunking (not per-thread partials), so
//    the same inputs give the same bits for any OpenMP thread count (oneDNN GEMMs aside).
//  * Bad arguments (shapes, ids, configs) throw primus::Error with a one-line explanation.
//
// Map from Megatron/Llama building blocks to kernels:
//   linear layers              gemm.hpp (fp32, bf16 x bf16 -> fp32; dynamic_shape for MoE
//                              expert blocks), bias.hpp
//   embedding                  embedding.hpp
//   RMSNorm / LayerNorm / QK-norm  rmsnorm.hpp, layernorm.hpp (QK-norm: rows = tokens*heads,
//                              cols = head_dim)
//   rotary embeddings          rope.hpp (rotate_half layout, partial rotary, Llama 3.1 scaling)
//   core attention             attention.hpp (causal, MHA/GQA/MQA, MLA head dims, flash-style)
//   MLP activations            activation.hpp (SwiGLU on cat(gate, up), GELU erf/tanh)
//   dropout                    dropout.hpp
//   MoE                        router.hpp (top-k, aux loss), moe_dispatch.hpp (permute/combine)
//   loss                       cross_entropy.hpp (padded vocab, masked mean via dloss weights;
//                              fused forward+backward in place)
//   optimizer                  optimizer.hpp (AdamW, SGD), grad_norm.hpp (global norm + clip)
//   misc                       elementwise.hpp (add, axpy, scale, fill, fp32<->bf16 casts)
//
// Note on QKV layout: attention.hpp expects all query heads of a token contiguous, then (via
// its own pointer/stride) the key heads and the value heads, e.g. one fused projection whose
// output rows are [q heads | k groups | v groups]. Megatron's checkpoint layout interleaves
// per group ([q.. k v] for group 0, then group 1, ...): permute the QKV weight rows once when
// loading/saving such checkpoints rather than the activations every step.
#pragma once

#include "kernels/activation.hpp"
#include "kernels/attention.hpp"
#include "kernels/bias.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/dropout.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "kernels/gemm.hpp"
#include "kernels/grad_norm.hpp"
#include "kernels/layernorm.hpp"
#include "kernels/moe_dispatch.hpp"
#include "kernels/optimizer.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rope.hpp"
#include "kernels/router.hpp"
