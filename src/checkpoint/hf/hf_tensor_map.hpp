// How each tensor of the engine's checkpoint (Megatron-Core names and layouts) corresponds to
// Hugging Face tensors, and the conversions both ways:
//   Same        one HF tensor, same shape (norms, projections, embeddings, routers, MLA weights)
//   ConcatRows  ours = [hf0; hf1] along rows: SwiGLU's fused fc1 = [gate_proj; up_proj]
//               (Mixtral: [w1; w3])
//   Qkv         ours = Megatron's fused QKV: per query group g, its n/g query heads' rows, then
//               its key rows, then its value rows; HF keeps q_proj, k_proj, v_proj (weights or
//               biases; rows head-major)
// Layers: decoder.layers.{i}.X <-> model.layers.{i}.Y; DeepSeek-V3's multi-token-prediction
// depth j (mtp.layers.{j}.*) <-> model.layers.{num_layers + j}.* (enorm, hnorm, eh_proj,
// final_layernorm <-> shared_head.norm, and the transformer layer's tensors); such layers also
// carry copies of the embedding (embed_tokens) and output layer (shared_head.head), written on
// export and accepted on import.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/hf/hf_family.hpp"
#include "checkpoint/model_tensors.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint::hf {

enum class Rule { Same, ConcatRows, Qkv };

struct HfTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel() const;
};

struct Mapping {
  ModelTensor ours;
  Rule rule = Rule::Same;
  std::vector<HfTensor> hf;
};

// An HF tensor that repeats another on export (DeepSeek-V3's MTP embedding and head).
struct HfCopy {
  HfTensor tensor;
  std::string of;  // the HF tensor it repeats
};

struct TensorMap {
  std::vector<Mapping> mappings;
  std::vector<HfCopy> copies;
};

// Throws primus::Error naming the parameter when one has no counterpart in the family.
TensorMap tensor_map(Family family, const model::ModelConfig& config, const std::vector<ModelTensor>& tensors);

// ours (global, row-major) from the HF tensors (in Mapping::hf order), and back.
void hf_to_ours(const Mapping& m, const std::vector<const float*>& hf, const model::ModelConfig& config, float* ours);
void ours_to_hf(const Mapping& m, const float* ours, const model::ModelConfig& config, const std::vector<float*>& hf);

}  // namespace primus::checkpoint::hf
