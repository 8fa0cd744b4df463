// Reads a file written by an independent implementation (tools/reference/model/
// safetensors_file.py, which lays tensors out in insertion order, not sorted by name) and
// checks every value, so the reader is not only tested against our own writer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/safetensors_reader.hpp"

namespace primus::io {
namespace {

const std::string kPath =
    std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/model/python_writer_check.safetensors";

TEST(SafetensorsPythonWriter, EveryDtypeReadsBack) {
  SafetensorsReader r(kPath);
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.metadata().at("writer"), "safetensors_file.py");
  EXPECT_EQ(r.tensors().size(), 13u);

  std::vector<float> f32(12);
  for (int i = 0; i < 12; ++i) f32[i] = 0.25f * static_cast<float>(i) - 1.0f;
  EXPECT_EQ(r.entry("f32").shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(r.copy<float>("f32"), f32);
  EXPECT_EQ(r.read_f32("f32"), f32);

  EXPECT_EQ(r.entry("bf16").dtype, StDType::BF16);
  EXPECT_EQ(r.read_f32("bf16"), (std::vector<float>{1.0f, -2.0f, 0.5f, 3.140625f}));

  const auto f16 = r.read_f32("f16");
  ASSERT_EQ(f16.size(), 6u);
  EXPECT_EQ(f16[0], 1.0f);
  EXPECT_EQ(f16[1], -0.5f);
  EXPECT_EQ(f16[2], 65504.0f);                   // largest half
  EXPECT_EQ(f16[3], std::ldexp(1.0f, -14));      // smallest normal
  EXPECT_EQ(f16[4], std::ldexp(1.0f, -24));      // smallest subnormal
  EXPECT_EQ(f16[5], std::numeric_limits<float>::infinity());

  EXPECT_EQ(r.copy<double>("f64"), std::vector<double>{1.0 / 3.0});
  EXPECT_EQ(r.copy<std::int64_t>("i64"), (std::vector<std::int64_t>{-1, 1ll << 40}));
  EXPECT_EQ(r.entry("i32").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(r.view<std::int32_t>("i32")[0], -3);
  EXPECT_EQ(r.read_i32("i32"), (std::vector<std::int32_t>{-3, -2, -1, 0, 1, 2}));
  EXPECT_EQ(r.read_i32("i16"), (std::vector<std::int32_t>{-32768, 32767}));
  EXPECT_EQ(r.read_i32("i8"), (std::vector<std::int32_t>{-128, 127}));
  EXPECT_EQ(r.read_i32("u8"), (std::vector<std::int32_t>{0, 1, 255}));
  EXPECT_EQ(r.entry("bool").dtype, StDType::BOOL);
  EXPECT_EQ(r.read_i32("bool"), (std::vector<std::int32_t>{1, 0, 1}));

  EXPECT_TRUE(r.entry("scalar").shape.empty());
  EXPECT_EQ(r.read_f32("scalar"), std::vector<float>{2.5f});
  EXPECT_EQ(r.entry("empty").shape, (std::vector<std::int64_t>{2, 0}));
  EXPECT_TRUE(r.read_f32("empty").empty());
  EXPECT_EQ(r.read_f32("layers.0.d\xc3\xa9" "cor\xc3\xbc"), std::vector<float>{7.0f});

  // The Python writer orders by element size, then insertion: 8-byte tensors come first and
  // every tensor is aligned, so zero-copy views work on its files too.
  EXPECT_EQ(r.tensors().front().dtype, StDType::F64);
  for (const auto& t : r.tensors()) EXPECT_EQ(t.begin % st_dtype_size(t.dtype), 0u) << t.name;
}

}  // namespace
}  // namespace primus::io
