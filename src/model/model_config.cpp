#include "model/model_config.hpp"

#include "core/error.hpp"

namespace primus::model {

namespace {

[[noreturn]] void unsupported(const std::string& what) {
  fail("{} is not supported by this engine yet; remove it from the experiment (or use 'primus config show' to "
       "see where it is set)",
       what);
}

}  // namespace

ModelConfig ModelConfig::from_args(const config::Args& a, std::int64_t vocab_size) {
  // Features of the product that this engine does not implement yet: refuse, never pretend.
  if (a.num_experts) unsupported("mixture of experts (num_experts)");
  if (a.multi_latent_attention) unsupported("multi-latent attention (multi_latent_attention)");
  if (a.tensor_model_parallel_size > 1) unsupported("tensor parallelism (tensor_model_parallel_size > 1)");
  if (a.pipeline_model_parallel_size > 1) unsupported("pipeline parallelism (pipeline_model_parallel_size > 1)");
  if (a.context_parallel_size > 1) unsupported("context parallelism (context_parallel_size > 1)");
  if (a.expert_model_parallel_size > 1) unsupported("expert parallelism (expert_model_parallel_size > 1)");
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
  if (c.head_dim % 16 != 0) fail("kv_channels {} must be a multiple of 16 for this engine's attention kernel", c.head_dim);
  c.rope.rot_dim();  // validates rotary_percent
  return c;
}

}  // namespace primus::model
