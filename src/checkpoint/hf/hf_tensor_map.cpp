#include "checkpoint/hf/hf_tensor_map.hpp"

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint::hf {

namespace {

bool starts(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// "decoder.layers.12.rest" -> (12, "rest")
bool split_index(const std::string& name, const std::string& prefix, std::int64_t& index, std::string& rest) {
  if (!starts(name, prefix)) return false;
  const std::size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return false;
  try {
    index = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
  } catch (...) {
    return false;
  }
  rest = name.substr(dot + 1);
  return true;
}

struct LayerName {
  Rule rule = Rule::Same;
  std::vector<std::string> names;  // relative to the HF layer prefix
};

// A transformer layer's tensor (name relative to the layer) in HF's names; empty when none.
LayerName map_layer(Family f, const std::string& rest) {
  const bool mla = is_mla(f), mixtral = f == Family::Mixtral;
  static const std::map<std::string, std::string> same = {
      {"input_layernorm.weight", "input_layernorm.weight"},
      {"pre_mlp_layernorm.weight", "post_attention_layernorm.weight"},
      {"self_attention.linear_proj.weight", "self_attn.o_proj.weight"},
      {"self_attention.k_layernorm.weight", "self_attn.k_norm.weight"},
      {"self_attention.kv_layernorm.weight", "self_attn.kv_a_layernorm.weight"},
      {"self_attention.linear_q_proj.weight", "self_attn.q_proj.weight"},
      {"self_attention.linear_q_down_proj.weight", "self_attn.q_a_proj.weight"},
      {"self_attention.linear_q_up_proj.weight", "self_attn.q_b_proj.weight"},
      {"self_attention.linear_kv_down_proj.weight", "self_attn.kv_a_proj_with_mqa.weight"},
      {"self_attention.linear_kv_up_proj.weight", "self_attn.kv_b_proj.weight"},
      {"mlp.linear_fc2.weight", "mlp.down_proj.weight"},
      {"mlp.shared_experts.linear_fc2.weight", "mlp.shared_experts.down_proj.weight"},
  };
  if (auto it = same.find(rest); it != same.end()) return {Rule::Same, {it->second}};
  if (rest == "self_attention.q_layernorm.weight")
    return {Rule::Same, {mla ? "self_attn.q_a_layernorm.weight" : "self_attn.q_norm.weight"}};
  if (rest == "self_attention.linear_qkv.weight" || rest == "self_attention.linear_qkv.bias") {
    const std::string kind = rest.substr(rest.rfind('.') + 1);
    return {Rule::Qkv, {"self_attn.q_proj." + kind, "self_attn.k_proj." + kind, "self_attn.v_proj." + kind}};
  }
  if (rest == "mlp.linear_fc1.weight") return {Rule::ConcatRows, {"mlp.gate_proj.weight", "mlp.up_proj.weight"}};
  if (rest == "mlp.shared_experts.linear_fc1.weight")
    return {Rule::ConcatRows, {"mlp.shared_experts.gate_proj.weight", "mlp.shared_experts.up_proj.weight"}};
  if (rest == "mlp.router.weight") return {Rule::Same, {mixtral ? "block_sparse_moe.gate.weight" : "mlp.gate.weight"}};
  if (rest == "mlp.router.expert_bias" && f == Family::DeepseekV3) return {Rule::Same, {"mlp.gate.e_score_correction_bias"}};
  std::int64_t e = 0;
  std::string tail;
  if (split_index(rest, "mlp.experts.local_experts.", e, tail)) {
    const std::string p = mixtral ? fmt::format("block_sparse_moe.experts.{}.", e) : fmt::format("mlp.experts.{}.", e);
    if (tail == "linear_fc1.weight")
      return {Rule::ConcatRows, {p + (mixtral ? "w1.weight" : "gate_proj.weight"), p + (mixtral ? "w3.weight" : "up_proj.weight")}};
    if (tail == "linear_fc2.weight") return {Rule::Same, {p + (mixtral ? "w2.weight" : "down_proj.weight")}};
  }
  return {};
}

}  // namespace

std::int64_t HfTensor::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

TensorMap tensor_map(Family f, const model::ModelConfig& c, const std::vector<ModelTensor>& tensors) {
  TensorMap map;
  const std::int64_t d = c.head_dim, n = c.heads, g = c.groups;
  for (const ModelTensor& t : tensors) {
    Mapping m;
    m.ours = t;
    LayerName ln;
    std::string prefix;
    std::int64_t i = 0;
    std::string rest;
    if (t.name == "embedding.word_embeddings.weight") {
      ln = {Rule::Same, {"model.embed_tokens.weight"}};
    } else if (t.name == "output_layer.weight") {
      ln = {Rule::Same, {"lm_head.weight"}};
    } else if (t.name == "decoder.final_layernorm.weight") {
      ln = {Rule::Same, {"model.norm.weight"}};
    } else if (split_index(t.name, "decoder.layers.", i, rest)) {
      prefix = fmt::format("model.layers.{}.", i);
      ln = map_layer(f, rest);
    } else if (f == Family::DeepseekV3 && split_index(t.name, "mtp.layers.", i, rest)) {
      prefix = fmt::format("model.layers.{}.", c.num_layers + i);
      if (rest == "enorm.weight" || rest == "hnorm.weight" || rest == "eh_proj.weight") ln = {Rule::Same, {rest}};
      else if (rest == "final_layernorm.weight") ln = {Rule::Same, {"shared_head.norm.weight"}};
      else if (starts(rest, "transformer_layer.")) ln = map_layer(f, rest.substr(18));
    }
    if (ln.names.empty())
      fail("tensor '{}' of this model has no counterpart in Hugging Face's {} layout (the family written for this "
           "architecture); adjust the experiment (e.g. no linear or LayerNorm biases) or convert another way",
           t.name, model_type(f));
    m.rule = ln.rule;
    for (const std::string& nm : ln.names) m.hf.push_back({prefix + nm, {}});
    // HF shapes.
    if (m.rule == Rule::Same) {
      m.hf[0].shape = t.shape();
    } else if (m.rule == Rule::ConcatRows) {
      if (t.rows % 2 != 0) fail("internal: '{}' has an odd number of rows for [gate; up]", t.name);
      for (auto& h : m.hf) h.shape = {t.rows / 2, t.cols};
    } else {
      if (t.rows != (n + 2 * g) * d) fail("internal: '{}' has {} rows, not (n + 2g)·d", t.name, t.rows);
      const std::int64_t rows[3] = {n * d, g * d, g * d};
      for (int k = 0; k < 3; ++k)
        m.hf[static_cast<std::size_t>(k)].shape = t.cols ? std::vector<std::int64_t>{rows[k], t.cols} : std::vector<std::int64_t>{rows[k]};
    }
    map.mappings.push_back(std::move(m));
  }
  if (f == Family::DeepseekV3) {
    const bool tied = c.tied_embeddings;
    for (std::int64_t j = 0; j < c.mtp_layers; ++j) {
      const std::string p = fmt::format("model.layers.{}.", c.num_layers + j);
      map.copies.push_back({{p + "embed_tokens.weight", {c.padded_vocab, c.hidden}}, "model.embed_tokens.weight"});
      map.copies.push_back({{p + "shared_head.head.weight", {c.padded_vocab, c.hidden}},
                            tied ? "model.embed_tokens.weight" : "lm_head.weight"});
    }
  }
  return map;
}

namespace {

// Calls f(our_row, part, part_row) for every row of the fused QKV tensor.
template <typename F>
void for_qkv_rows(const model::ModelConfig& c, F&& f) {
  const std::int64_t d = c.head_dim, per = c.heads / c.groups;
  std::int64_t row = 0;
  for (std::int64_t grp = 0; grp < c.groups; ++grp) {
    for (std::int64_t r = 0; r < per * d; ++r) f(row++, 0, grp * per * d + r);
    for (std::int64_t r = 0; r < d; ++r) f(row++, 1, grp * d + r);
    for (std::int64_t r = 0; r < d; ++r) f(row++, 2, grp * d + r);
  }
}

}  // namespace

void hf_to_ours(const Mapping& m, const std::vector<const float*>& hf, const model::ModelConfig& c, float* ours) {
  const auto width = static_cast<std::size_t>(m.ours.cols ? m.ours.cols : 1);
  switch (m.rule) {
    case Rule::Same:
      std::memcpy(ours, hf[0], static_cast<std::size_t>(m.ours.numel()) * sizeof(float));
      break;
    case Rule::ConcatRows: {
      const std::size_t half = static_cast<std::size_t>(m.ours.numel()) / 2;
      std::memcpy(ours, hf[0], half * sizeof(float));
      std::memcpy(ours + half, hf[1], half * sizeof(float));
      break;
    }
    case Rule::Qkv:
      for_qkv_rows(c, [&](std::int64_t row, int part, std::int64_t src) {
        std::memcpy(ours + static_cast<std::size_t>(row) * width, hf[static_cast<std::size_t>(part)] + static_cast<std::size_t>(src) * width,
                    width * sizeof(float));
      });
      break;
  }
}

void ours_to_hf(const Mapping& m, const float* ours, const model::ModelConfig& c, const std::vector<float*>& hf) {
  const auto width = static_cast<std::size_t>(m.ours.cols ? m.ours.cols : 1);
  switch (m.rule) {
    case Rule::Same:
      std::memcpy(hf[0], ours, static_cast<std::size_t>(m.ours.numel()) * sizeof(float));
      break;
    case Rule::ConcatRows: {
      const std::size_t half = static_cast<std::size_t>(m.ours.numel()) / 2;
      std::memcpy(hf[0], ours, half * sizeof(float));
      std::memcpy(hf[1], ours + half, half * sizeof(float));
      break;
    }
    case Rule::Qkv:
      for_qkv_rows(c, [&](std::int64_t row, int part, std::int64_t dst) {
        std::memcpy(hf[static_cast<std::size_t>(part)] + static_cast<std::size_t>(dst) * width, ours + static_cast<std::size_t>(row) * width,
                    width * sizeof(float));
      });
      break;
  }
}

}  // namespace primus::checkpoint::hf
