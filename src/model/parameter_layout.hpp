// Every parameter of a model stage: its Megatron-Core name, its GLOBAL shape (the tensor a
// one-process model and a checkpoint hold), which slice of it this process holds, how it is
// initialised, and where it lives in the stage's one flat fp32 buffer (and, at the same offsets,
// in the gradient buffer and the optimizer states).
//
// Blocks declare their parameters here (ParameterLayout::add) while the model is built; then
// finalize() assigns offsets region by region: the dense region first, then the expert region,
// each contiguous, because the two reduce over different data-parallel groups (Megatron-Core keeps
// separate buffers for expert parameters). Within a region parameters keep their declaration
// order, so backward (which runs in reverse) finishes gradients from the end of each region.
//
// The slice a process holds is described generically (Shard): local row i is global row
// rows[...] (a list of row ranges, concatenated in order), local columns are global columns
// [col_begin, col_begin + cols). That covers every layout the engine uses:
//   * the fused QKV weight, stored [all q; all k; all v] locally while Megatron's global tensor
//     interleaves q/k/v per query group (one range per group and part);
//   * tensor-parallel column shards (a row range; SwiGLU fc1 takes [gate_r; up_r]: two ranges),
//     row-parallel shards (a column range), vocabulary shards of the embedding;
//   * experts, which are separate parameters held whole by the expert-parallel rank that owns them.
// Initialisation, checkpoints and weight files all go through it, so a parameter's values are the
// same whatever the layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primus::model {

// Which data-parallel group reduces a parameter's gradient.
enum class ParamGroup { Dense, Expert };

struct RowRange {
  std::int64_t begin = 0, count = 0;
};

// The slice of the global tensor this process holds (empty rows: all rows, in order).
struct Shard {
  std::vector<RowRange> rows;
  std::int64_t col_begin = 0;
};

struct ParamInfo {
  std::string name;
  std::int64_t offset = 0;   // floats from the start of the flat buffer (valid after finalize)
  std::int64_t rows = 0;     // local shape [rows, cols]; 1-D parameters have cols == 0
  std::int64_t cols = 0;
  std::int64_t global_rows = 0, global_cols = 0;  // the global tensor's shape
  Shard shard;
  ParamGroup group = ParamGroup::Dense;
  bool decay = true;         // Megatron: no weight decay on biases and norm weights (1-D)
  float init_std = 0.0f;     // normal(0, init_std); 0 -> constant init_value
  float init_value = 0.0f;
  // True when the tensor is split across the tensor-parallel group; false when every TP rank
  // holds a full copy (norms, routers): such gradients are counted once in the global norm.
  bool tensor_parallel = false;
  // Replicated across the tensor-parallel group but each rank's gradient is a partial sum (its
  // inputs were split: norms under sequence parallelism, q/k-norm weights over split heads,
  // routers): summed over the group once per step, after which every copy agrees.
  bool sum_grad_over_tp = false;

  std::int64_t numel() const { return cols ? rows * cols : rows; }
  std::int64_t global_numel() const { return global_cols ? global_rows * global_cols : global_rows; }
  bool is_whole() const { return rows == global_rows && cols == global_cols && shard.rows.empty(); }
  // Global row of local row r.
  std::int64_t global_row(std::int64_t r) const;
};

// What a block asks for; the layout fills in offset. Local shape = global unless a shard is given.
struct ParamSpec {
  std::string name;
  std::int64_t global_rows = 0, global_cols = 0;
  bool decay = true;
  float init_std = 0.0f;
  float init_value = 0.0f;
  ParamGroup group = ParamGroup::Dense;
  Shard shard = {};                  // default: the whole tensor
  std::int64_t local_rows = -1;      // -1: derived from the shard (sum of its row ranges) or global
  std::int64_t local_cols = -1;      // -1: global_cols
  bool tensor_parallel = false;
  bool sum_grad_over_tp = false;
};

// Handle of a declared parameter (its index in params()).
using ParamId = std::int32_t;
inline constexpr ParamId kNoParam = -1;

class ParameterLayout {
 public:
  ParamId add(ParamSpec spec);
  // Assigns offsets (dense region, then expert region); no add() afterwards. Each region's length
  // is padded to a multiple of region_alignment floats (a multiple of 16; data parallelism asks
  // for lcm(dp, 128) with the distributed optimizer); the padding stays zero.
  void finalize(std::int64_t region_alignment = 16);

  const std::vector<ParamInfo>& params() const { return params_; }
  const ParamInfo& operator[](ParamId id) const { return params_[static_cast<size_t>(id)]; }
  std::int64_t offset(ParamId id) const { return params_[static_cast<size_t>(id)].offset; }
  // Floats in the flat buffer (incl. 64-byte alignment padding between parameters).
  std::int64_t total() const { return total_; }
  // [begin, end) of a region in the flat buffer.
  std::int64_t region_begin(ParamGroup g) const { return g == ParamGroup::Dense ? 0 : dense_end_; }
  std::int64_t region_end(ParamGroup g) const { return g == ParamGroup::Dense ? dense_end_ : total_; }
  const ParamInfo* find(const std::string& name) const;
  bool finalized() const { return finalized_; }

 private:
  std::vector<ParamInfo> params_;
  std::int64_t total_ = 0, dense_end_ = 0;
  bool finalized_ = false;
};

}  // namespace primus::model
