// Token dtypes of Megatron's indexed dataset (.idx byte 17) and their sizes. The codes are part of
// the on-disk format (shared/reference/megatron-formats.md §1), so they are spelled out here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace primus::data {

enum class TokenDType : std::uint8_t {
  kUInt8 = 1,
  kInt8 = 2,
  kInt16 = 3,
  kInt32 = 4,
  kInt64 = 5,
  kFloat64 = 6,
  kFloat32 = 7,
  kUInt16 = 8,
};

// True when `code` is one of the codes above.
bool is_valid_dtype_code(std::uint8_t code);
std::size_t dtype_size(TokenDType dtype);
std::string_view dtype_name(TokenDType dtype);  // numpy's name: "uint16", "int32", ...
// Megatron's choice when writing: uint16 when the vocabulary fits (< 65500), else int32.
TokenDType optimal_dtype(std::int64_t vocab_size);

}  // namespace primus::data
