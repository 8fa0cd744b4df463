#include "model/parameter_layout.hpp"

#include "core/aligned.hpp"
#include "core/error.hpp"

namespace primus::model {

std::int64_t ParamInfo::global_row(std::int64_t r) const {
  if (shard.rows.empty()) return r;
  for (const RowRange& range : shard.rows) {
    if (r < range.count) return range.begin + r;
    r -= range.count;
  }
  fail("internal: row beyond the shard of parameter '{}'", name);
}

ParamId ParameterLayout::add(ParamSpec spec) {
  if (finalized_) fail("internal: parameter '{}' declared after the layout was finalized", spec.name);
  ParamInfo p;
  p.name = std::move(spec.name);
  p.global_rows = spec.global_rows;
  p.global_cols = spec.global_cols;
  std::int64_t rows = spec.global_rows;
  if (!spec.shard.rows.empty()) {
    rows = 0;
    for (const RowRange& r : spec.shard.rows) {
      if (r.begin < 0 || r.count <= 0 || r.begin + r.count > spec.global_rows)
        fail("internal: shard rows [{}, {}) outside parameter '{}' with {} rows", r.begin, r.begin + r.count, p.name,
             spec.global_rows);
      rows += r.count;
    }
  }
  p.rows = spec.local_rows >= 0 ? spec.local_rows : rows;
  p.cols = spec.local_cols >= 0 ? spec.local_cols : spec.global_cols;
  if (p.rows != rows) fail("internal: parameter '{}' local rows {} != shard rows {}", p.name, p.rows, rows);
  if (spec.shard.col_begin < 0 || spec.shard.col_begin + p.cols > spec.global_cols ||
      (spec.global_cols == 0 && p.cols != 0))
    fail("internal: shard columns of parameter '{}' outside the tensor", p.name);
  p.shard = std::move(spec.shard);
  p.group = spec.group;
  p.decay = spec.decay;
  p.init_std = spec.init_std;
  p.init_value = spec.init_value;
  p.tensor_parallel = spec.tensor_parallel;
  p.sum_grad_over_tp = spec.sum_grad_over_tp;
  for (const auto& q : params_)
    if (q.name == p.name) fail("internal: parameter '{}' declared twice", p.name);
  params_.push_back(std::move(p));
  return static_cast<ParamId>(params_.size() - 1);
}

void ParameterLayout::finalize(std::int64_t region_alignment) {
  if (finalized_) return;
  if (region_alignment <= 0 || region_alignment % 16 != 0)
    fail("internal: region alignment {} is not a positive multiple of 16 floats", region_alignment);
  std::int64_t at = 0;
  for (ParamGroup g : {ParamGroup::Dense, ParamGroup::Expert}) {
    for (ParamInfo& p : params_) {
      if (p.group != g) continue;
      p.offset = at;
      // Every parameter starts 64-byte aligned so kernels see aligned rows.
      at += static_cast<std::int64_t>(align_up(static_cast<std::size_t>(p.numel()) * sizeof(float)) / sizeof(float));
    }
    // Data parallelism cuts each region into buckets whose sizes divide by the group size.
    at = (at + region_alignment - 1) / region_alignment * region_alignment;
    if (g == ParamGroup::Dense) dense_end_ = at;
  }
  total_ = at;
  finalized_ = true;
}

const ParamInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace primus::model
