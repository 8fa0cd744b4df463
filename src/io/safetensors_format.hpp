// The vocabulary of Hugging Face's safetensors format, shared by the reader and the writer.
//
// A file is: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header), then the
// data. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (byte offsets relative to the first data byte) and may hold "__metadata__": {str: str}.
// Data is raw little-endian, row-major. Writers pad the header with spaces so that the data
// starts at a multiple of 8 bytes, which keeps every tensor aligned when tensors are laid out
// by decreasing element size.
//
// We implement the format ourselves (a JSON header and a memory map) because checkpoints,
// the Hugging Face export and the PyTorch fidelity fixtures all need it, and the reference
// implementation is a Rust/Python package that this C++ build cannot use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"

namespace primus::io {

// Element types with the spelling the header uses ("F32", "BF16", ...).
enum class StDType : std::uint8_t {
  BOOL, U8, I8, F8_E4M3, F8_E5M2, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64
};

// Bytes per element (1, 2, 4 or 8).
std::size_t st_dtype_size(StDType t);
// "F32", "BF16", ... exactly as written in a header.
std::string_view st_dtype_name(StDType t);
// Parses a header spelling; std::nullopt when the name is not a safetensors dtype.
std::optional<StDType> parse_st_dtype(std::string_view name);
// The safetensors dtype of an engine dtype (fp32 -> F32, bf16 -> BF16).
StDType to_st_dtype(DType t);

// The C++ element type whose bytes a tensor of each dtype holds (F16 and the F8 types have
// none: read them converted to float through SafetensorsReader::read_f32).
template <typename T> struct StDTypeOf;
template <> struct StDTypeOf<float> { static constexpr StDType value = StDType::F32; };
template <> struct StDTypeOf<double> { static constexpr StDType value = StDType::F64; };
template <> struct StDTypeOf<bf16> { static constexpr StDType value = StDType::BF16; };
template <> struct StDTypeOf<bool> { static constexpr StDType value = StDType::BOOL; };
template <> struct StDTypeOf<std::uint8_t> { static constexpr StDType value = StDType::U8; };
template <> struct StDTypeOf<std::int8_t> { static constexpr StDType value = StDType::I8; };
template <> struct StDTypeOf<std::uint16_t> { static constexpr StDType value = StDType::U16; };
template <> struct StDTypeOf<std::int16_t> { static constexpr StDType value = StDType::I16; };
template <> struct StDTypeOf<std::uint32_t> { static constexpr StDType value = StDType::U32; };
template <> struct StDTypeOf<std::int32_t> { static constexpr StDType value = StDType::I32; };
template <> struct StDTypeOf<std::uint64_t> { static constexpr StDType value = StDType::U64; };
template <> struct StDTypeOf<std::int64_t> { static constexpr StDType value = StDType::I64; };

// One tensor of a file: where its bytes are (relative to the data start) and what they mean.
struct TensorEntry {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<std::int64_t> shape;  // empty for a scalar (one element)
  std::uint64_t begin = 0, end = 0;

  std::uint64_t byte_size() const { return end - begin; }
  std::int64_t numel() const;
};

// Product of the dimensions (1 for a scalar); std::nullopt when a dimension is negative or the
// product overflows 63 bits.
std::optional<std::int64_t> checked_numel(std::span<const std::int64_t> shape);

// "[2, 3]" — for messages.
std::string shape_string(std::span<const std::int64_t> shape);

// The header key that holds the string-to-string metadata map.
inline constexpr std::string_view kMetadataKey = "__metadata__";
// The data section starts at a multiple of this many bytes (header padded with spaces).
inline constexpr std::size_t kHeaderAlignment = 8;
// Largest header we accept (the limit Hugging Face's reader applies too): a corrupt length
// field must not make us allocate gigabytes before the JSON is even checked.
inline constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

}  // namespace primus::io
