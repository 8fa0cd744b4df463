#include "model/model_config.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace primus::model {

namespace {

[[noreturn]] void unsupported(const std::string& what) {
  fail("{} is not supported by this engine yet; remove it from the experiment (or use 'primus config show' to "
       "see where it is set)",
       what);
}

void read_moe(const config::Args& a, ModelConfig& c) {
  MoeConfig& m = c.moe;
  m.experts = *a.num_experts;
  m.topk = a.moe_router_topk;
  m.ffn = a.moe_ffn_hidden_size.value_or(a.ffn_hidden_size);
  m.shared_ffn = a.moe_shared_expert_intermediate_size.value_or(0);
  m.shared_gate = a.moe_shared_expert_gate;
  if (a.moe_router_score_function != "softmax" && a.moe_router_score_function != "sigmoid")
    unsupported("moe_router_score_function '" + a.moe_router_score_function + "'");
  m.sigmoid = a.moe_router_score_function == "sigmoid";
  m.pre_softmax = a.moe_router_pre_softmax;
  m.num_groups = a.moe_router_num_groups.value_or(0);
  m.group_topk = a.moe_router_group_topk.value_or(0);
  m.topk_scaling_factor = static_cast<float>(a.moe_router_topk_scaling_factor.value_or(1.0));
  m.expert_bias = a.moe_router_enable_expert_bias;
  m.bias_update_rate = static_cast<float>(a.moe_router_bias_update_rate);
  m.z_loss_coeff = static_cast<float>(a.moe_z_loss_coeff.value_or(0.0));
  if (a.moe_expert_capacity_factor && *a.moe_expert_capacity_factor >= 0.0)
    m.capacity_factor = *a.moe_expert_capacity_factor;
  m.drop_by_position = a.moe_token_drop_policy == "position";
  m.pad_to_capacity = a.moe_pad_expert_input_to_capacity;
  // Expert parallelism: which collective carries tokens to their experts' ranks (the same results).
  if (a.moe_token_dispatcher_type == "allgather") m.dispatcher = TokenDispatcherType::AllGather;
  else if (a.moe_token_dispatcher_type == "alltoall") m.dispatcher = TokenDispatcherType::AllToAll;
  else
    fail("moe_token_dispatcher_type '{}' is not supported by this engine (flex needs DeepEP/HybridEP on GPUs; "
         "alltoall_seq was folded into alltoall upstream); use alltoall or allgather",
         a.moe_token_dispatcher_type);
  if (a.moe_router_dtype == "fp64") unsupported("moe_router_dtype fp64 (use fp32)");
  m.router_fp32 = a.moe_router_dtype == "fp32";
  const auto& types = a.moe_router_load_balancing_type;
  const auto& coeffs = a.moe_aux_loss_coeff;
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string& t = types[i];
    if (t == "none") continue;
    if (t == "sinkhorn") unsupported("moe_router_load_balancing_type 'sinkhorn'");
    const double coeff = coeffs.size() == types.size() ? coeffs[i] : coeffs.empty() ? 0.0 : coeffs[0];
    const LoadBalancing kind = t == "aux_loss" ? LoadBalancing::Aux : t == "seq_aux_loss" ? LoadBalancing::SeqAux
                                                                    : LoadBalancing::GlobalAux;
    if (t != "aux_loss" && t != "seq_aux_loss" && t != "global_aux_loss")
      unsupported("moe_router_load_balancing_type '" + t + "'");
    m.balancing.emplace_back(kind, static_cast<float>(coeff));
  }
  // Options that would change the math and are not built here.
  if (a.moe_input_jitter_eps && *a.moe_input_jitter_eps != 0.0) unsupported("moe_input_jitter_eps");
  if (a.moe_router_force_load_balancing) unsupported("moe_router_force_load_balancing");
  if (a.moe_apply_probs_on_input) unsupported("moe_apply_probs_on_input");
  if (a.moe_use_upcycling) unsupported("moe_use_upcycling");
  const std::vector<bool> moe = a.moe_layer_freq.per_layer(a.num_layers);
  c.layer_mlp.clear();
  for (bool is_moe : moe) c.layer_mlp.push_back(is_moe ? MlpKind::MoE : MlpKind::Dense);
}

void read_mla(const config::Args& a, ModelConfig& c) {
  c.multi_latent_attention = true;
  MlaConfig& m = c.mla;
  m.q_lora_rank = a.q_lora_rank.value_or(0);
  m.kv_lora_rank = a.kv_lora_rank;
  m.qk_head_dim = a.qk_head_dim;
  m.qk_pos_emb_head_dim = a.qk_pos_emb_head_dim;
  m.v_head_dim = a.v_head_dim;
  if (m.q_head_dim() % 16 != 0 || m.v_head_dim % 16 != 0)
    fail("qk_head_dim + qk_pos_emb_head_dim ({}) and v_head_dim ({}) must be multiples of 16 for this engine's "
         "attention kernel",
         m.q_head_dim(), m.v_head_dim);
  const double factor = a.rotary_scaling_factor;
  const auto mscale_of = [&](double mm) { return factor <= 1.0 ? 1.0 : 0.1 * mm * std::log(factor) + 1.0; };
  const double sm = mscale_of(a.mscale_all_dim);
  m.softmax_scale = static_cast<float>(sm * sm / std::sqrt(static_cast<double>(m.q_head_dim())));
  kernels::RopeConfig& r = m.rope;
  r.head_dim = m.qk_pos_emb_head_dim;
  r.rotary_dim = m.qk_pos_emb_head_dim;
  r.base = static_cast<float>(a.rotary_base);
  r.interleaved = true;
  const std::string type = a.rope_type.value_or("yarn");  // MLATransformerConfig's default
  if (type == "yarn") {
    r.yarn = true;
    r.yarn_factor = static_cast<float>(factor);
    r.mscale = static_cast<float>(a.mscale);
    r.mscale_all_dim = static_cast<float>(a.mscale_all_dim);
    r.original_max_positions = static_cast<float>(a.original_max_position_embeddings.value_or(4096));
    r.beta_fast = static_cast<float>(a.beta_fast);
    r.beta_slow = static_cast<float>(a.beta_slow);
  } else if (type != "rope") {
    unsupported("rope_type '" + type + "'");
  }
  if (a.rotary_interleaved) fail("rotary_interleaved cannot be combined with multi_latent_attention (Megatron refuses it too)");
}

}  // namespace

ModelConfig ModelConfig::from_args(const config::Args& a, std::int64_t vocab_size) {
  // Features of the product that this engine does not implement yet: refuse, never pretend.
  if (a.num_experts && a.add_bias_linear && a.expert_tensor_parallel_size.value_or(a.tensor_model_parallel_size) > 1)
    fail("add_bias_linear with expert_tensor_parallel_size {} is not supported by this engine (the experts' "
         "row-parallel fc2 bias); set expert_tensor_parallel_size: 1",
         a.expert_tensor_parallel_size.value_or(a.tensor_model_parallel_size));
  // Context parallelism: every cp_comm_type computes the same attention; this engine always passes
  // K/V around a ring of the CP group (p2p; model/context_parallel_attention.hpp).
  if (a.attention_dropout != 0.0 || a.hidden_dropout != 0.0)
    unsupported("dropout (attention_dropout / hidden_dropout other than 0)");
  if (a.position_embedding_type != "rope") unsupported("position_embedding_type '" + a.position_embedding_type + "'");
  if (a.apply_residual_connection_post_layernorm) unsupported("apply_residual_connection_post_layernorm");
  if (a.rotary_interleaved) unsupported("rotary_interleaved");
  if (a.fp16) unsupported("fp16 (use bf16)");
  if (a.normalization != "RMSNorm" && a.normalization != "LayerNorm")
    unsupported("normalization '" + a.normalization + "'");

  ModelConfig c;
  c.num_layers = a.num_layers;
  c.hidden = a.hidden_size;
  c.ffn = a.ffn_hidden_size;
  c.heads = a.num_attention_heads;
  c.groups = a.num_query_groups;
  c.head_dim = a.kv_channels;
  c.vocab = vocab_size;
  c.padded_vocab = a.padded_vocab_size ? *a.padded_vocab_size : config::pad_vocab_size(vocab_size, a);
  if (c.padded_vocab < c.vocab) fail("padded_vocab_size {} is smaller than the vocabulary ({})", c.padded_vocab, c.vocab);
  c.seq_length = a.seq_length;
  c.norm = a.normalization == "RMSNorm" ? Norm::RMSNorm : Norm::LayerNorm;
  c.norm_eps = static_cast<float>(a.norm_epsilon);
  c.swiglu = a.swiglu;
  c.linear_bias = a.add_bias_linear;
  c.qkv_bias = a.add_qkv_bias || a.add_bias_linear;
  c.qk_layernorm = a.qk_layernorm;
  c.tied_embeddings = !a.untie_embeddings_and_output_weights;
  c.init_std = static_cast<float>(a.init_method_std);
  c.bf16 = a.bf16;
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_percent = static_cast<float>(a.rotary_percent);
  c.rope.base = static_cast<float>(a.rotary_base);
  c.rope.llama3_scaling = a.use_rope_scaling;
  c.rope.scaling_factor = static_cast<float>(a.rope_scaling_factor);
  if (a.rotary_seq_len_interpolation_factor)
    c.rope.seq_len_interpolation_factor = static_cast<float>(*a.rotary_seq_len_interpolation_factor);
  if (!a.multi_latent_attention && c.head_dim % 16 != 0)
    fail("kv_channels {} must be a multiple of 16 for this engine's attention kernel", c.head_dim);
  c.rope.rot_dim();  // validates rotary_percent
  if (a.num_experts) read_moe(a, c);
  if (a.multi_latent_attention) read_mla(a, c);
  if (a.mtp_num_layers && *a.mtp_num_layers > 0) {
    c.mtp_layers = *a.mtp_num_layers;
    c.mtp_loss_scaling_factor = static_cast<float>(a.mtp_loss_scaling_factor);
  }
  return c;
}

std::int64_t ModelConfig::moe_layers() const {
  return static_cast<std::int64_t>(std::count(layer_mlp.begin(), layer_mlp.end(), MlpKind::MoE));
}

}  // namespace primus::model
