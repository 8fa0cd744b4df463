#include "checkpoint/tensor_region.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint {

namespace {

// Global row ranges of local rows [first, first + count) of a row list.
std::vector<RowRange> sub_rows(const std::vector<RowRange>& list, std::int64_t first, std::int64_t count) {
  std::vector<RowRange> out;
  std::int64_t at = 0;  // local row where the current range starts
  for (const RowRange& r : list) {
    const std::int64_t lo = std::max(first, at), hi = std::min(first + count, at + r.count);
    if (lo < hi) out.push_back({r.begin + (lo - at), hi - lo});
    at += r.count;
  }
  return out;
}

// Calls f(src_local_row, dst_local_row, rows) for every run of global rows the lists share.
template <typename F>
void for_common_rows(const std::vector<RowRange>& a, const std::vector<RowRange>& b, F&& f) {
  std::int64_t at_a = 0;
  for (const RowRange& ra : a) {
    std::int64_t at_b = 0;
    for (const RowRange& rb : b) {
      const std::int64_t lo = std::max(ra.begin, rb.begin), hi = std::min(ra.begin + ra.count, rb.begin + rb.count);
      if (lo < hi) f(at_a + (lo - ra.begin), at_b + (lo - rb.begin), hi - lo);
      at_b += rb.count;
    }
    at_a += ra.count;
  }
}

}  // namespace

std::int64_t Region::row_count() const {
  std::int64_t n = 0;
  for (const RowRange& r : rows) n += r.count;
  return n;
}

bool Region::operator==(const Region& o) const {
  if (col_begin != o.col_begin || cols != o.cols || rows.size() != o.rows.size()) return false;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].begin != o.rows[i].begin || rows[i].count != o.rows[i].count) return false;
  return true;
}

Region whole_region(std::int64_t global_rows, std::int64_t global_cols) {
  Region r;
  r.rows = {RowRange{0, global_rows}};
  r.cols = global_cols ? global_cols : 1;
  return r;
}

Region local_region(const model::ParamInfo& p) {
  Region r;
  r.rows = p.shard.rows.empty() ? std::vector<RowRange>{RowRange{0, p.global_rows}} : p.shard.rows;
  r.col_begin = p.shard.col_begin;
  r.cols = p.cols ? p.cols : 1;
  return r;
}

std::vector<LocalBlock> element_range_blocks(const model::ParamInfo& p, std::int64_t begin, std::int64_t end) {
  if (begin < 0 || end > p.numel() || begin > end)
    fail("internal: element range [{}, {}) outside parameter '{}' of {} elements", begin, end, p.name, p.numel());
  const Region local = local_region(p);
  const std::int64_t C = local.cols;
  std::vector<LocalBlock> out;
  auto add = [&](std::int64_t row, std::int64_t rows, std::int64_t col, std::int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    LocalBlock b;
    b.region.rows = sub_rows(local.rows, row, rows);
    b.region.col_begin = local.col_begin + col;
    b.region.cols = cols;
    b.local_offset = row * C + col;
    out.push_back(std::move(b));
  };
  if (begin == end) return out;
  const std::int64_t r0 = begin / C, c0 = begin % C, r1 = end / C, c1 = end % C;
  if (r0 == r1) {  // inside one row
    add(r0, 1, c0, c1 - c0);
    return out;
  }
  std::int64_t first_full = r0;
  if (c0 != 0) {
    add(r0, 1, c0, C - c0);
    first_full = r0 + 1;
  }
  add(first_full, r1 - first_full, 0, C);
  add(r1, 1, 0, c1);
  return out;
}

std::int64_t copy_intersection(const Region& src, const float* src_data, const Region& dst, float* dst_data) {
  const std::int64_t lo = std::max(src.col_begin, dst.col_begin);
  const std::int64_t hi = std::min(src.col_begin + src.cols, dst.col_begin + dst.cols);
  if (lo >= hi) return 0;
  const std::int64_t width = hi - lo;
  std::int64_t copied = 0;
  for_common_rows(src.rows, dst.rows, [&](std::int64_t s, std::int64_t d, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i)
      std::memcpy(dst_data + (d + i) * dst.cols + (lo - dst.col_begin), src_data + (s + i) * src.cols + (lo - src.col_begin),
                  static_cast<size_t>(width) * sizeof(float));
    copied += n * width;
  });
  return copied;
}

std::int64_t intersection_size(const Region& a, const Region& b) {
  const std::int64_t lo = std::max(a.col_begin, b.col_begin), hi = std::min(a.col_begin + a.cols, b.col_begin + b.cols);
  if (lo >= hi) return 0;
  std::int64_t rows = 0;
  for_common_rows(a.rows, b.rows, [&](std::int64_t, std::int64_t, std::int64_t n) { rows += n; });
  return rows * (hi - lo);
}

std::string check_partition(const std::vector<Region>& regions, std::int64_t global_rows, std::int64_t global_cols) {
  const std::int64_t gcols = global_cols ? global_cols : 1;
  std::int64_t total = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const Region& r = regions[i];
    if (r.col_begin < 0 || r.cols <= 0 || r.col_begin + r.cols > gcols)
      return fmt::format("piece {} has columns [{}, {}) outside the tensor's {}", i, r.col_begin, r.col_begin + r.cols, gcols);
    for (const RowRange& rr : r.rows)
      if (rr.begin < 0 || rr.count <= 0 || rr.begin + rr.count > global_rows)
        return fmt::format("piece {} has rows [{}, {}) outside the tensor's {}", i, rr.begin, rr.begin + rr.count,
                           global_rows);
    // Rows repeated inside one region would be double counted below.
    std::vector<RowRange> sorted = r.rows;
    std::sort(sorted.begin(), sorted.end(), [](const RowRange& a, const RowRange& b) { return a.begin < b.begin; });
    for (size_t k = 1; k < sorted.size(); ++k)
      if (sorted[k].begin < sorted[k - 1].begin + sorted[k - 1].count) return fmt::format("piece {} repeats rows", i);
    total += r.numel();
    for (size_t j = 0; j < i; ++j)
      if (intersection_size(r, regions[j]) > 0) return fmt::format("pieces {} and {} overlap", j, i);
  }
  if (total != global_rows * gcols)
    return fmt::format("the pieces hold {} of the tensor's {} elements", total, global_rows * gcols);
  return {};
}

nlohmann::json region_to_json(const Region& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const RowRange& rr : r.rows) rows.push_back({rr.begin, rr.count});
  return {{"rows", rows}, {"cols", {r.col_begin, r.cols}}};
}

Region region_from_json(const nlohmann::json& j, const std::string& where) {
  auto bad = [&](const char* what) -> Region { fail("{}: malformed piece ({})", where, what); };
  if (!j.is_object() || !j.contains("rows") || !j.contains("cols")) return bad("needs 'rows' and 'cols'");
  const auto& rows = j["rows"];
  const auto& cols = j["cols"];
  if (!rows.is_array() || rows.empty()) return bad("'rows' must be a non-empty list of [begin, count]");
  Region r;
  for (const auto& rr : rows) {
    if (!rr.is_array() || rr.size() != 2 || !rr[0].is_number_integer() || !rr[1].is_number_integer())
      return bad("each row range is [begin, count]");
    r.rows.push_back({rr[0].get<std::int64_t>(), rr[1].get<std::int64_t>()});
  }
  if (!cols.is_array() || cols.size() != 2 || !cols[0].is_number_integer() || !cols[1].is_number_integer())
    return bad("'cols' is [begin, count]");
  r.col_begin = cols[0].get<std::int64_t>();
  r.cols = cols[1].get<std::int64_t>();
  return r;
}

}  // namespace primus::checkpoint
