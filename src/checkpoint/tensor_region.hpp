// Geometry of checkpoint pieces. A checkpoint stores every tensor GLOBALLY (the shape a
// one-process model has) as pieces written by whichever ranks own them; a piece is a Region of
// the global tensor plus its values, row-major and contiguous.
//
// A Region is "a list of global row ranges × one column range": its local row i is global row
// rows[...] (ranges concatenated in order) and its columns are [col_begin, col_begin + cols).
// That is exactly what a process holds of a parameter (model::Shard: a tensor-parallel row or
// column block, the fused QKV's per-group rows, SwiGLU's [gate_r; up_r], an expert whole), and
// an element range of a process' local tensor (a ZeRO-1 optimizer shard, which ignores row
// boundaries) splits into at most three such regions: the tail of a first row, whole rows, the
// head of a last row. So every layout writes its pieces without gathering or copying, and any
// layout reads them back by intersecting Regions (rows: range lists, columns: intervals).
// 1-D tensors are [n, 1].
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/parameter_layout.hpp"

namespace primus::checkpoint {

using model::RowRange;

struct Region {
  std::vector<RowRange> rows;   // global row ranges, in the order of the region's rows
  std::int64_t col_begin = 0;   // global columns [col_begin, col_begin + cols)
  std::int64_t cols = 1;

  std::int64_t row_count() const;
  std::int64_t numel() const { return row_count() * cols; }
  bool operator==(const Region& o) const;
};

// The whole tensor of a global shape ([rows] or [rows, cols]).
Region whole_region(std::int64_t global_rows, std::int64_t global_cols);
// The part of the global tensor a process holds of parameter p (its Shard).
Region local_region(const model::ParamInfo& p);

// A region of the global tensor whose values are the contiguous elements
// [local_offset, local_offset + region.numel()) of a process' local tensor.
struct LocalBlock {
  Region region;
  std::int64_t local_offset = 0;
};
// Elements [begin, end) of p's local tensor (row-major) as at most three blocks.
std::vector<LocalBlock> element_range_blocks(const model::ParamInfo& p, std::int64_t begin, std::int64_t end);

// Copies the elements that src and dst have in common from src_data (src's values) into
// dst_data (dst's values); returns how many were copied.
std::int64_t copy_intersection(const Region& src, const float* src_data, const Region& dst, float* dst_data);
// Number of elements the two regions share.
std::int64_t intersection_size(const Region& a, const Region& b);

// Checks that the regions lie inside [global_rows, global_cols] and partition it exactly (no
// overlap, nothing missing); returns an empty string or what is wrong.
std::string check_partition(const std::vector<Region>& regions, std::int64_t global_rows, std::int64_t global_cols);

nlohmann::json region_to_json(const Region& r);
// Throws primus::Error "<where>: ..." on a malformed region.
Region region_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace primus::checkpoint
