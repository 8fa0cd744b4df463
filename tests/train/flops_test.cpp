// flops_per_iteration against numbers worked out by hand from megatron-formats.md §4, and
// against the closed form of the Megatron paper (Narayanan et al. 2021, appendix) for a GPT-3
// shaped model, which is derived differently (per-layer GEMM inventory, ffn = 4h, MHA).
// Cross-check done once outside the build: upstream Megatron-LM's num_floating_point_operations
// (training.py, NVIDIA main, Aug 2026) gives exactly these numbers for the Llama-3-8B, MoE, MLA
// and MTP cases below.
#include <gtest/gtest.h>

#include "config/args.hpp"
#include "core/error.hpp"
#include "train/flops.hpp"

namespace primus::train {
namespace {

config::Args llama3_8b() {
  config::Args a;
  a.num_layers = 32;
  a.hidden_size = 4096;
  a.ffn_hidden_size = 14336;
  a.num_attention_heads = 32;
  a.group_query_attention = true;
  a.num_query_groups = 8;
  a.kv_channels = 128;
  a.swiglu = true;
  a.seq_length = 8192;
  a.global_batch_size = 128;
  a.moe_router_topk = 2;
  return a;
}

TEST(Flops, Llama3_8B) {
  const config::Args a = llama3_8b();
  // Per token, by hand (h = 4096, q = 4096, k = v = 1024, f = 3):
  //   MLP      6·4096·(14336·3·32)                   = 33,822,867,456
  //   QKV+out  32·6·(4096·(4096+1024+1024) + 4096²)  =  8,053,063,680
  //   logits   6·4096·128256                         =  3,152,019,456
  //   attention (per token, s = 8192): 8192·32·6·4096/2·2 = 6,442,450,944
  const double per_token = 33822867456.0 + 8053063680.0 + 3152019456.0 + 6442450944.0;
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 1, 128256), 8192.0 * per_token);
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 128256), 128.0 * 8192.0 * per_token);
  // Sanity: ≈ 6 × 7.5 B parameters per token plus attention → ~417 PFLOP per 1M-token batch.
  EXPECT_NEAR(flops_per_iteration(a, 128, 128256) / 1e15, 128 * 8192 * 51.47e9 / 1e15, 0.1);
}

TEST(Flops, WithoutGroupQueryAttentionKvUsesAllHeads) {
  config::Args a = llama3_8b();
  a.group_query_attention = false;  // num_query_groups is ignored: k = v = q
  const double mha = flops_per_iteration(a, 1, 128256);
  const double gqa = flops_per_iteration(llama3_8b(), 1, 128256);
  // k and v grow from 1024 to 4096 columns each: +2·3072·h per layer per token, ×6 FLOPs.
  EXPECT_DOUBLE_EQ(mha - gqa, 8192.0 * 32 * 6 * 4096.0 * (2 * 3072.0));
}

TEST(Flops, MatchesMegatronPaperClosedFormForGpt3Shapes) {
  // GPT-3 175B: 96 layers, h = 12288, 96 heads, ffn = 4h, GeLU, s = 2048, V = 51200.
  config::Args a;
  a.num_layers = 96;
  a.hidden_size = 12288;
  a.ffn_hidden_size = 4 * 12288;
  a.num_attention_heads = 96;
  a.num_query_groups = 96;
  a.kv_channels = 128;
  a.swiglu = false;
  a.seq_length = 2048;
  const double B = 1536, s = 2048, L = 96, h = 12288, V = 51200;
  // The paper's F = 72·B·s·L·h²·(1 + s/(6h) + V/(12·L·h)) counts the full s×s score matrix;
  // Megatron (and §4) now halve that term for the causal mask: s/(6h) -> s/(12h).
  const double paper = 72.0 * B * s * L * h * h * (1.0 + s / (12.0 * h) + V / (12.0 * L * h));
  EXPECT_NEAR(flops_per_iteration(a, 1536, 51200) / paper, 1.0, 1e-12);
}

TEST(Flops, MixtureOfExpertsCountsRoutedAndSharedExperts) {
  // Mixtral-8x7B shapes: every layer MoE, top-2 of 8 experts, SwiGLU, vocab 32000.
  config::Args a = llama3_8b();
  a.num_experts = 8;
  a.moe_router_topk = 2;
  a.seq_length = 4096;
  const double dense_attn = 32 * 6.0 * (4096.0 * 6144 + 4096.0 * 4096);
  const double mlp = 6.0 * 4096 * (14336.0 * 2 * 3) * 32;
  const double logits = 6.0 * 4096 * 32000;
  const double core = 4096.0 * 32 * 6 * 4096;
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 1, 32000), 4096.0 * (mlp + dense_attn + logits + core));

  // DeepSeek-style: the first 2 of 6 layers dense, MoE layers with one shared expert and their
  // own (smaller) expert width.
  config::Args b = llama3_8b();
  b.num_layers = 6;
  b.num_experts = 16;
  b.moe_router_topk = 4;
  b.moe_ffn_hidden_size = 1024;
  b.moe_shared_expert_intermediate_size = 2048;
  b.moe_layer_freq = config::LayerFreq{.every = std::nullopt, .pattern = {0, 0, 1, 1, 1, 1}};
  b.seq_length = 1024;
  const double b_mlp = 6.0 * 4096 * (14336.0 * 3 * 2 + (1024.0 * 4 * 3 + 2048.0 * 3) * 4);
  const double b_attn = 6 * 6.0 * (4096.0 * 6144 + 4096.0 * 4096);
  const double b_logits = 6.0 * 4096 * 1000;
  const double b_core = 1024.0 * 6 * 6 * 4096;
  EXPECT_DOUBLE_EQ(flops_per_iteration(b, 2, 1000), 2 * 1024.0 * (b_mlp + b_attn + b_logits + b_core));

  // An integer moe_layer_freq N marks layers 0, N, 2N, ...
  b.moe_layer_freq = config::LayerFreq{.every = 2, .pattern = {}};
  const double c_mlp = 6.0 * 4096 * (14336.0 * 3 * 3 + (1024.0 * 4 * 3 + 2048.0 * 3) * 3);
  EXPECT_DOUBLE_EQ(flops_per_iteration(b, 2, 1000), 2 * 1024.0 * (c_mlp + b_attn + b_logits + b_core));

  b.moe_layer_freq = config::LayerFreq{.every = std::nullopt, .pattern = {1, 1}};
  EXPECT_THROW(flops_per_iteration(b, 1, 1000), Error);
}

TEST(Flops, MultiTokenPredictionAddsLayersAndLogits) {
  config::Args a = llama3_8b();
  a.num_layers = 2;
  a.seq_length = 16;
  const double base = flops_per_iteration(a, 1, 1024);
  a.mtp_num_layers = 1;
  const double h = 4096;
  const double one_layer = 6.0 * h * 14336 * 3 + 6.0 * (h * 6144 + h * h) + 16.0 * 6 * h;
  const double extra = one_layer + 6.0 * (3 * h + 2 * h * h) + 6.0 * h * 1024;
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 1, 1024) - base, 16.0 * extra);
}

TEST(Flops, MultiLatentAttentionProjections) {
  // DeepSeek-V2-Lite-like attention: no q LoRA, kv_lora_rank 512, qk 128 + rope 64, v 128.
  config::Args a = llama3_8b();
  a.num_layers = 1;
  a.hidden_size = 2048;
  a.ffn_hidden_size = 10944;
  a.num_attention_heads = 16;
  a.multi_latent_attention = true;
  a.group_query_attention = false;
  a.kv_lora_rank = 512;
  a.qk_head_dim = 128;
  a.qk_pos_emb_head_dim = 64;
  a.v_head_dim = 128;
  a.seq_length = 32;
  const double h = 2048, n = 16;
  const double proj = 6.0 * (h * n * 192 + 512.0 * (h + n * (128 + 128) + 1) + h * 64 + n * 128 * h);
  const double core = 6.0 * (n * 192 / 2 + n * 128 / 2);
  const double mlp = 6.0 * h * 10944 * 3;
  const double logits = 6.0 * h * 4096;
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 1, 4096), 32.0 * (mlp + proj + logits) + 32.0 * 32.0 * core);
  a.q_lora_rank = 1536;
  const double proj_lora =
      6.0 * (1536.0 * (h + n * 192 + 1) + 512.0 * (h + n * (128 + 128) + 1) + h * 64 + n * 128 * h);
  EXPECT_DOUBLE_EQ(flops_per_iteration(a, 1, 4096), 32.0 * (mlp + proj_lora + logits) + 32.0 * 32.0 * core);
}

TEST(Flops, ThroughputPerDevice) {
  // 4.2e15 FLOPs in 2 s on 3 devices: 0.7 PFLOP/s per device = 700 TFLOP/s/device.
  EXPECT_DOUBLE_EQ(tflops_per_device(4.2e15, 2.0, 3), 700.0);
}

}  // namespace
}  // namespace primus::train
