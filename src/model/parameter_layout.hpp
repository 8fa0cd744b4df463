// Where every parameter lives in the model's one flat fp32 buffer (and, at the same offsets, in
// the gradient buffer and the optimizer states). One flat buffer per dtype is what lets data
// parallelism reduce contiguous buckets and the distributed optimizer shard ranges.
//
// Names are Megatron-Core's (decoder.layers.{i}.self_attention.linear_qkv.weight, ...), so
// checkpoints and safetensors files use the names users know. One internal difference: the fused
// QKV weight (and bias) rows are stored as [all q heads; all k groups; all v groups] so that one
// GEMM yields q, k and v at fixed column offsets; Megatron interleaves them per query group —
// qkv_layout.hpp converts at the file boundary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.hpp"

namespace primus::model {

struct ParamInfo {
  std::string name;
  std::int64_t offset = 0;   // floats from the start of the buffer
  std::int64_t rows = 0;     // shape [rows, cols]; 1-D parameters have cols == 0
  std::int64_t cols = 0;
  bool decay = true;         // Megatron: no weight decay on biases and norm weights (1-D)
  float init_std = 0.0f;     // normal(0, init_std); 0 -> constant init_value
  float init_value = 0.0f;

  std::int64_t numel() const { return cols ? rows * cols : rows; }
};

// Offsets of one transformer layer's parameters (-1 when absent).
struct LayerOffsets {
  std::int64_t ln1_w = -1, ln1_b = -1;
  std::int64_t qkv_w = -1, qkv_b = -1;
  std::int64_t q_norm_w = -1, q_norm_b = -1, k_norm_w = -1, k_norm_b = -1;
  std::int64_t proj_w = -1, proj_b = -1;
  std::int64_t ln2_w = -1, ln2_b = -1;
  std::int64_t fc1_w = -1, fc1_b = -1;
  std::int64_t fc2_w = -1, fc2_b = -1;
};

class ParameterLayout {
 public:
  explicit ParameterLayout(const ModelConfig& config);

  const std::vector<ParamInfo>& params() const { return params_; }
  std::int64_t total() const { return total_; }
  const ParamInfo* find(const std::string& name) const;

  std::int64_t embedding = -1;                 // [padded_vocab, hidden]
  std::vector<LayerOffsets> layers;
  std::int64_t final_norm_w = -1, final_norm_b = -1;
  std::int64_t output = -1;                    // [padded_vocab, hidden]; == embedding when tied

 private:
  std::int64_t add(std::string name, std::int64_t rows, std::int64_t cols, bool decay, float init_std,
                   float init_value = 0.0f);
  std::vector<ParamInfo> params_;
  std::int64_t total_ = 0;
};

}  // namespace primus::model
