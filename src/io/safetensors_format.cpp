// Dtype names and sizes of the safetensors format; shape arithmetic with overflow checks
// (headers come from files, so a shape may be anything).
#include "io/safetensors_format.hpp"

#include <array>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace primus::io {

namespace {

struct DTypeInfo {
  StDType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes{{
    {StDType::BOOL, "BOOL", 1},       {StDType::U8, "U8", 1},
    {StDType::I8, "I8", 1},           {StDType::F8_E4M3, "F8_E4M3", 1},
    {StDType::F8_E5M2, "F8_E5M2", 1}, {StDType::U16, "U16", 2},
    {StDType::I16, "I16", 2},         {StDType::F16, "F16", 2},
    {StDType::BF16, "BF16", 2},       {StDType::U32, "U32", 4},
    {StDType::I32, "I32", 4},         {StDType::F32, "F32", 4},
    {StDType::U64, "U64", 8},         {StDType::I64, "I64", 8},
    {StDType::F64, "F64", 8},
}};

// The table is indexed by the enum value.
constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < kDTypes.size(); ++i)
    if (static_cast<std::size_t>(kDTypes[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order());

const DTypeInfo& info(StDType t) { return kDTypes[static_cast<std::size_t>(t)]; }

}  // namespace

std::size_t st_dtype_size(StDType t) { return info(t).size; }

std::string_view st_dtype_name(StDType t) { return info(t).name; }

std::optional<StDType> parse_st_dtype(std::string_view name) {
  for (const DTypeInfo& d : kDTypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

StDType to_st_dtype(DType t) { return t == DType::F32 ? StDType::F32 : StDType::BF16; }

std::int64_t TensorEntry::numel() const { return checked_numel(shape).value_or(0); }

std::optional<std::int64_t> checked_numel(std::span<const std::int64_t> shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace primus::io
