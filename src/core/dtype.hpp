// Element types the engine computes in: fp32 (master weights, optimizer state, accumulation) and
// bf16 (compute copies of weights/activations on CPUs with AVX512-BF16).
// bf16 is stored as raw bits; conversions are hand-written (round-to-nearest-even, NaN kept
// quiet) so that results are bit-identical to PyTorch's `tensor.to(torch.bfloat16)` on every
// CPU, including denormals, which the AVX512-BF16 instruction would flush to zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace primus {

enum class DType : std::uint8_t { F32, BF16 };

// Bytes per element: 4 for F32, 2 for BF16.
constexpr std::size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
// "fp32" / "bf16" (the spelling of Megatron's --bf16 flag family).
constexpr std::string_view dtype_name(DType t) { return t == DType::F32 ? "fp32" : "bf16"; }
// Parses "fp32"/"float32" or "bf16"/"bfloat16"; throws primus::Error otherwise.
DType parse_dtype(std::string_view name);

// A bfloat16 value: the upper 16 bits of an IEEE fp32. Trivially copyable, 2 bytes.
struct bf16 {
  std::uint16_t bits;
};
static_assert(sizeof(bf16) == 2);

inline std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// fp32 -> bf16 with round-to-nearest-even; NaNs stay NaN (quiet bit forced), infinities stay.
inline bf16 to_bf16(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t nan = (u >> 16) | 0x40u;
  const bool is_nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
  return bf16{static_cast<std::uint16_t>(is_nan ? nan : rounded)};
}
// bf16 -> fp32 is exact.
inline float to_f32(bf16 x) { return bits_float(static_cast<std::uint32_t>(x.bits) << 16); }
// Rounds an fp32 value to the nearest bf16 and back (what a bf16 round trip does to a value).
inline float round_bf16(float x) { return to_f32(to_bf16(x)); }

// Array conversions: vectorised, OpenMP-parallel above a size threshold. src/dst must not overlap.
void convert_f32_to_bf16(const float* src, bf16* dst, std::size_t n);
void convert_bf16_to_f32(const bf16* src, float* dst, std::size_t n);

}  // namespace primus
