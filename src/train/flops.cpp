// Model FLOPs per iteration (megatron-formats.md §4); see the header for the formula.
#include "train/flops.hpp"

#include <vector>

#include "core/error.hpp"

namespace primus::train {

namespace {

// 3 GEMMs per weight matrix (forward, dgrad, wgrad) × 2 FLOPs per multiply-add.
constexpr double kFwdBwdFma = 3.0 * 2.0;

}  // namespace

double flops_per_iteration(const config::Args& a, int64_t batch_size, int64_t padded_vocab_size) {
  const double h = static_cast<double>(a.hidden_size);
  const double tokens = static_cast<double>(batch_size) * static_cast<double>(a.seq_length);
  const double seq_sq = static_cast<double>(batch_size) * static_cast<double>(a.seq_length) *
                        static_cast<double>(a.seq_length);

  // Dense / MoE split of the MLPs.
  int64_t dense_layers = a.num_layers, moe_layers = 0, routed_to = 0;
  bool last_is_moe = false;
  if (a.num_experts) {
    const std::vector<bool> is_moe =
        a.moe_layer_freq.is_set() ? a.moe_layer_freq.per_layer(a.num_layers)
                                  : config::LayerFreq{.every = 1, .pattern = {}}.per_layer(a.num_layers);
    moe_layers = 0;
    for (bool m : is_moe) moe_layers += m ? 1 : 0;
    dense_layers = a.num_layers - moe_layers;
    routed_to = a.moe_router_topk;
    last_is_moe = !is_moe.empty() && is_moe.back();
  }
  // Multi-token prediction: each MTP layer is one more transformer layer shaped like the last.
  const int64_t mtp = a.mtp_num_layers.value_or(0);
  if (last_is_moe) moe_layers += mtp;
  else dense_layers += mtp;
  const double layers = static_cast<double>(a.num_layers + mtp);

  const double f = a.swiglu ? 3.0 : 2.0;  // SwiGLU: fc1 is h -> 2·ffn
  const double ffn = static_cast<double>(a.ffn_hidden_size);
  const double moe_ffn = static_cast<double>(a.moe_ffn_hidden_size.value_or(a.ffn_hidden_size));
  const double shared_ffn = static_cast<double>(a.moe_shared_expert_intermediate_size.value_or(0));
  const double mlp = kFwdBwdFma * h *
                     (ffn * f * static_cast<double>(dense_layers) +
                      (moe_ffn * static_cast<double>(routed_to) * f + shared_ffn * f) * static_cast<double>(moe_layers));

  // Attention: per-layer token-linear projections and the per-layer s² core.
  double attn_proj = 0.0, attn_core = 0.0;
  const double heads = static_cast<double>(a.num_attention_heads);
  if (a.multi_latent_attention) {
    // MLA: q (optionally through a LoRA down/up projection), compressed kv with its rope part,
    // output projection; the core attends with (qk_head + rope) and produces v_head per head.
    const double qk = static_cast<double>(a.qk_head_dim + a.qk_pos_emb_head_dim);
    const double vh = static_cast<double>(a.v_head_dim);
    const double kv_rank = static_cast<double>(a.kv_lora_rank);
    const double q_term = a.q_lora_rank ? static_cast<double>(*a.q_lora_rank) * (h + heads * qk + 1.0)
                                        : h * heads * qk;
    attn_proj = kFwdBwdFma * (q_term + kv_rank * (h + heads * (static_cast<double>(a.qk_head_dim) + vh) + 1.0) +
                              h * static_cast<double>(a.qk_pos_emb_head_dim) + heads * vh * h);
    attn_core = kFwdBwdFma * (heads * qk / 2.0 + heads * vh / 2.0);
  } else {
    const double d = static_cast<double>(a.kv_channels);
    const double groups = static_cast<double>(a.group_query_attention ? a.num_query_groups : a.num_attention_heads);
    const double q = d * heads, kv = d * groups;
    attn_proj = kFwdBwdFma * (h * (q + 2.0 * kv) + q * h);
    attn_core = kFwdBwdFma * q / 2.0 * 2.0;  // QKᵀ and PV, halved by the causal mask
  }

  // MTP: per layer two norms of the embedding / hidden inputs plus the final norm (3·h) and the
  // 2h -> h "eh" projection.
  const double mtp_extra = kFwdBwdFma * static_cast<double>(mtp) * (3.0 * h + 2.0 * h * h);
  const double logits = kFwdBwdFma * h * static_cast<double>(padded_vocab_size) * static_cast<double>(mtp + 1);

  return tokens * (mlp + attn_proj * layers + mtp_extra + logits) + seq_sq * attn_core * layers;
}

}  // namespace primus::train
