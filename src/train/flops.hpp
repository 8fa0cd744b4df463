// Model FLOPs of one training iteration (forward + backward), the number Megatron divides by
// time to print "throughput per GPU (TFLOP/s/GPU)" (megatron-formats.md §4). Written from that
// formula; the test checks it against hand-computed Llama-3-8B, GQA and MoE numbers.
//
// With B = batch (sequences), s = seq_length, h = hidden_size, d = kv_channels, n = heads,
// g = query groups (n without group_query_attention), q = d·n, k = v = d·g, f = 3 with SwiGLU
// else 2, V = padded vocabulary:
//
//   FLOPs = B·s·[ 6·h·(ffn·f·L_dense + (moe_ffn·topk·f + shared_ffn·f)·L_moe)       MLPs
//               + L·6·(h·(q + k + v) + q·h)                                        QKV + out proj
//               + 6·h·V ]                                                           logits
//         + B·s²·L·6·q/2·2                                                          causal attention
//
// 6 = 3 GEMMs per weight (forward, data grad, weight grad) × 2 FLOPs per multiply-add. Norms,
// rotary embeddings, softmax and element-wise work are not counted (as in Megatron). MoE layers
// come from moe_layer_freq; multi-token-prediction layers (mtp_num_layers) add one transformer
// layer each (dense or MoE like the last layer), their norms and eh projection, and one more
// logits GEMM; multi-latent attention uses its own projection shapes (q/kv LoRA ranks).
#pragma once

#include <cstdint>

#include "config/args.hpp"

namespace primus::train {

// FLOPs of forward+backward over `batch_size` sequences of args.seq_length tokens. Doubles: the
// count exceeds 2^53 only for batches far beyond any run, and Megatron computes it in floating
// point too. Throws primus::Error when the MoE layer pattern does not match num_layers.
double flops_per_iteration(const config::Args& args, int64_t batch_size, int64_t padded_vocab_size);

// The same for one global batch (args.global_batch_size sequences).
inline double flops_per_iteration(const config::Args& args, int64_t padded_vocab_size) {
  return flops_per_iteration(args, args.global_batch_size, padded_vocab_size);
}

// Megatron's throughput figure: FLOPs / (seconds per iteration · 10^12 · world_size), in
// TFLOP/s per device (per process here; one process per socket/device).
inline double tflops_per_device(double flops, double seconds_per_iteration, int64_t world_size) {
  return flops / (seconds_per_iteration * 1e12 * static_cast<double>(world_size));
}

}  // namespace primus::train
