#include "model/parameter_layout.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/aligned.hpp"

namespace primus::model {

std::int64_t ParameterLayout::add(std::string name, std::int64_t rows, std::int64_t cols, bool decay, float init_std,
                                  float init_value) {
  ParamInfo p{std::move(name), total_, rows, cols, decay, init_std, init_value};
  // Keep every parameter 64-byte aligned so kernels see aligned rows.
  total_ += static_cast<std::int64_t>(align_up(static_cast<std::size_t>(p.numel()) * sizeof(float)) / sizeof(float));
  params_.push_back(std::move(p));
  return params_.back().offset;
}

ParameterLayout::ParameterLayout(const ModelConfig& c) {
  const float std = c.init_std;
  // Megatron scales the init of the projections that write into the residual stream.
  const float out_std = c.init_std / std::sqrt(2.0f * static_cast<float>(c.num_layers));
  const bool layernorm = c.norm == Norm::LayerNorm;
  embedding = add("embedding.word_embeddings.weight", c.padded_vocab, c.hidden, true, std);
  layers.resize(static_cast<size_t>(c.num_layers));
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    LayerOffsets& l = layers[static_cast<size_t>(i)];
    const std::string p = fmt::format("decoder.layers.{}.", i);
    l.ln1_w = add(p + "input_layernorm.weight", c.hidden, 0, false, 0.0f, 1.0f);
    if (layernorm) l.ln1_b = add(p + "input_layernorm.bias", c.hidden, 0, false, 0.0f);
    l.qkv_w = add(p + "self_attention.linear_qkv.weight", c.qkv_width(), c.hidden, true, std);
    if (c.qkv_bias) l.qkv_b = add(p + "self_attention.linear_qkv.bias", c.qkv_width(), 0, false, 0.0f);
    if (c.qk_layernorm) {
      l.q_norm_w = add(p + "self_attention.q_layernorm.weight", c.head_dim, 0, false, 0.0f, 1.0f);
      if (layernorm) l.q_norm_b = add(p + "self_attention.q_layernorm.bias", c.head_dim, 0, false, 0.0f);
      l.k_norm_w = add(p + "self_attention.k_layernorm.weight", c.head_dim, 0, false, 0.0f, 1.0f);
      if (layernorm) l.k_norm_b = add(p + "self_attention.k_layernorm.bias", c.head_dim, 0, false, 0.0f);
    }
    l.proj_w = add(p + "self_attention.linear_proj.weight", c.hidden, c.q_width(), true, out_std);
    if (c.linear_bias) l.proj_b = add(p + "self_attention.linear_proj.bias", c.hidden, 0, false, 0.0f);
    l.ln2_w = add(p + "pre_mlp_layernorm.weight", c.hidden, 0, false, 0.0f, 1.0f);
    if (layernorm) l.ln2_b = add(p + "pre_mlp_layernorm.bias", c.hidden, 0, false, 0.0f);
    l.fc1_w = add(p + "mlp.linear_fc1.weight", c.fc1_width(), c.hidden, true, std);
    if (c.linear_bias) l.fc1_b = add(p + "mlp.linear_fc1.bias", c.fc1_width(), 0, false, 0.0f);
    l.fc2_w = add(p + "mlp.linear_fc2.weight", c.hidden, c.ffn, true, out_std);
    if (c.linear_bias) l.fc2_b = add(p + "mlp.linear_fc2.bias", c.hidden, 0, false, 0.0f);
  }
  final_norm_w = add("decoder.final_layernorm.weight", c.hidden, 0, false, 0.0f, 1.0f);
  if (layernorm) final_norm_b = add("decoder.final_layernorm.bias", c.hidden, 0, false, 0.0f);
  output = c.tied_embeddings ? embedding : add("output_layer.weight", c.padded_vocab, c.hidden, true, std);
}

const ParamInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace primus::model
