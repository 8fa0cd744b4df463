#include "core/dtype.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"

namespace primus {
namespace {

TEST(CoreDtype, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_name(DType::BF16), "bf16");
  EXPECT_EQ(parse_dtype("bfloat16"), DType::BF16);
  EXPECT_EQ(parse_dtype("fp32"), DType::F32);
  EXPECT_THROW(parse_dtype("fp8"), Error);
}

TEST(CoreDtype, RoundToNearestEven) {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1+2^-7: ties go to even (1.0).
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3F80);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6: goes up to even.
  EXPECT_EQ(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3F82);
  // Just above halfway rounds up.
  EXPECT_EQ(to_bf16(bits_float(0x3F808001u)).bits, 0x3F81);
  EXPECT_EQ(to_bf16(-2.5f).bits, 0xC020);
  EXPECT_EQ(to_f32(bf16{0x3F80}), 1.0f);
  // Overflow to infinity, infinities kept, NaN stays NaN.
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()).bits, 0x7F80);
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::infinity()).bits, 0x7F80);
  EXPECT_TRUE(std::isnan(to_f32(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(to_f32(to_bf16(bits_float(0x7F800001u)))));  // signalling NaN
  // Denormals are rounded, not flushed.
  EXPECT_EQ(to_bf16(bits_float(0x00018000u)).bits, 0x0002);
}

TEST(CoreDtype, ArrayConversionMatchesScalar) {
  // Enough elements to take the parallel path, with a tail that is not a multiple of 16.
  const std::size_t n = (1 << 17) + 13;
  std::vector<float> src(n), back(n);
  std::vector<bf16> dst(n);
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;  // cover every bit pattern class, NaNs included
    src[i] = bits_float(x);
  }
  convert_f32_to_bf16(src.data(), dst.data(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(dst[i].bits, to_bf16(src[i]).bits) << i;
  convert_bf16_to_f32(dst.data(), back.data(), n);
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(float_bits(back[i]), static_cast<std::uint32_t>(dst[i].bits) << 16);
}

}  // namespace
}  // namespace primus
