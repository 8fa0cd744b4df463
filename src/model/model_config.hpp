// The shape and options of a Llama-family GPT decoder, taken once from the resolved Args.
// Everything the engine cannot do yet is rejected here with a clear message, before any
// memory is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/args.hpp"
#include "kernels/rope.hpp"

namespace primus::model {

enum class Norm { RMSNorm, LayerNorm };
enum class AttentionKind { SelfAttention, MultiLatent };
enum class MlpKind { Dense, MoE };

// What one transformer layer is made of (Megatron-Core's layer spec).
struct LayerSpec {
  AttentionKind attention = AttentionKind::SelfAttention;
  MlpKind mlp = MlpKind::Dense;
};

struct ModelConfig {
  std::int64_t num_layers = 0;
  std::int64_t hidden = 0;
  std::int64_t ffn = 0;
  std::int64_t heads = 0;
  std::int64_t groups = 0;          // key/value heads
  std::int64_t head_dim = 0;        // kv_channels
  std::int64_t vocab = 0;           // real vocabulary (softmax runs over these)
  std::int64_t padded_vocab = 0;    // rows of the embedding / output layer
  std::int64_t seq_length = 0;
  Norm norm = Norm::RMSNorm;
  float norm_eps = 1e-5f;
  bool swiglu = true;               // else GeLU (exact erf)
  bool linear_bias = false;         // add_bias_linear: every linear layer
  bool qkv_bias = false;            // add_qkv_bias (or linear_bias)
  bool qk_layernorm = false;
  bool tied_embeddings = false;     // !untie_embeddings_and_output_weights
  float init_std = 0.02f;
  bool bf16 = false;                // bf16 GEMM operands, fp32 master weights
  kernels::RopeConfig rope;
  std::vector<MlpKind> layer_mlp;   // per layer; empty: every layer dense

  LayerSpec layer_spec(std::int64_t layer) const {
    LayerSpec s;
    if (!layer_mlp.empty()) s.mlp = layer_mlp[static_cast<size_t>(layer)];
    return s;
  }

  std::int64_t q_width() const { return heads * head_dim; }
  std::int64_t kv_width() const { return groups * head_dim; }
  std::int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
  std::int64_t fc1_width() const { return swiglu ? 2 * ffn : ffn; }

  // From resolved arguments; vocab_size is the tokenizer's (or args.vocab_size for mock data).
  // Throws primus::Error naming the key when a requested feature is not in this engine.
  static ModelConfig from_args(const config::Args& args, std::int64_t vocab_size);
};

}  // namespace primus::model
