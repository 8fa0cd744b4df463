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

// Megatron-Core's load-balancing losses of the router (moe_router_load_balancing_type).
enum class LoadBalancing { Aux, SeqAux, GlobalAux };

// Megatron-Core's moe_token_dispatcher_type (matters under expert parallelism only).
enum class TokenDispatcherType { AllGather, AllToAll };

struct MoeConfig {
  std::int64_t experts = 0;
  std::int64_t topk = 0;
  std::int64_t ffn = 0;                    // moe_ffn_hidden_size (each expert)
  std::int64_t shared_ffn = 0;             // moe_shared_expert_intermediate_size (0: no shared experts)
  bool shared_gate = false;                // moe_shared_expert_gate
  bool sigmoid = false;                    // moe_router_score_function (else softmax)
  bool pre_softmax = false;                // moe_router_pre_softmax
  std::int64_t num_groups = 0, group_topk = 0;  // group-limited routing (0: off)
  float topk_scaling_factor = 1.0f;
  bool expert_bias = false;                // aux-loss-free balancing (moe_router_enable_expert_bias)
  float bias_update_rate = 1e-3f;
  std::vector<std::pair<LoadBalancing, float>> balancing;  // type and coefficient
  float z_loss_coeff = 0.0f;
  double capacity_factor = -1.0;           // < 0: dropless
  bool drop_by_position = false;           // moe_token_drop_policy position (else probs)
  bool pad_to_capacity = false;
  bool router_fp32 = false;                // moe_router_dtype fp32 (bf16 runs: router GEMM in fp32)
  TokenDispatcherType dispatcher = TokenDispatcherType::AllGather;
};

// DeepSeek's multi-latent attention (Megatron-Core's MLASelfAttention).
struct MlaConfig {
  std::int64_t q_lora_rank = 0;            // 0: plain q projection (DeepSeek-V2-Lite)
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_head_dim = 0;            // the part of q/k without position
  std::int64_t qk_pos_emb_head_dim = 0;    // the rotary part (k's is shared by all heads)
  std::int64_t v_head_dim = 0;
  float softmax_scale = 0.0f;              // mscale² / sqrt(qk_head_dim + qk_pos_emb_head_dim)
  kernels::RopeConfig rope;                // over the rotary part (YaRN or plain), pairs interleaved

  std::int64_t q_head_dim() const { return qk_head_dim + qk_pos_emb_head_dim; }
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
  bool multi_latent_attention = false;
  MoeConfig moe;                    // when any layer is MoE
  MlaConfig mla;                    // when multi_latent_attention
  std::int64_t mtp_layers = 0;      // multi-token prediction depth (mtp_num_layers)
  float mtp_loss_scaling_factor = 0.1f;

  LayerSpec layer_spec(std::int64_t layer) const {
    LayerSpec s;
    if (!layer_mlp.empty()) s.mlp = layer_mlp[static_cast<size_t>(layer)];
    if (multi_latent_attention) s.attention = AttentionKind::MultiLatent;
    return s;
  }
  // MTP layers take the spec of the decoder's last layer (as DeepSeek-V3's MoE MTP layer).
  LayerSpec mtp_layer_spec() const { return layer_spec(num_layers - 1); }
  std::int64_t moe_layers() const;

  std::int64_t q_width() const { return heads * head_dim; }
  std::int64_t kv_width() const { return groups * head_dim; }
  std::int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
  std::int64_t fc1_width() const { return swiglu ? 2 * ffn : ffn; }

  // From resolved arguments; vocab_size is the tokenizer's (or args.vocab_size for mock data).
  // Throws primus::Error naming the key when a requested feature is not in this engine.
  static ModelConfig from_args(const config::Args& args, std::int64_t vocab_size);
};

}  // namespace primus::model
