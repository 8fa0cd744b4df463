// Writer -> reader round trips: every dtype, scalars and empty tensors, metadata, the layout
// rules (alignment, order independence, space padding) and the writer's own input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"
#include "temp_dir.hpp"

namespace primus::io {
namespace {

using test::TempDir;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(SafetensorsRoundTrip, EveryDtypeScalarEmptyAndMetadata) {
  TempDir dir;
  const std::vector<float> f32{1.5f, -2.25f, 3.0e-39f, std::numeric_limits<float>::infinity(),
                               0.0f, -0.0f};
  const std::vector<bf16> b16{to_bf16(1.0f), to_bf16(-3.5f), to_bf16(1e-3f)};
  const std::vector<double> f64{3.141592653589793, -1e300};
  const std::vector<std::int32_t> i32{0, -1, 2147483647, -2147483647 - 1};
  const std::vector<std::int64_t> i64{1ll << 40, -5};
  const std::vector<std::uint8_t> u8{0, 255, 7};
  const std::vector<std::int16_t> i16{-300, 300};
  const float scalar = 4.25f;

  SafetensorsWriter w;
  w.add("weights.f32", {2, 3}, f32);
  w.add("b16", {3}, b16);
  w.add("f64", {2, 1}, f64);
  w.add("ids", {2, 2}, i32);
  w.add("big", {2}, i64);
  w.add("bytes", {3}, u8);
  w.add("short", {1, 2}, i16);
  w.add_copy("loss", {}, std::span<const float>(&scalar, 1));
  w.add("empty", StDType::F32, {0, 5}, nullptr);
  w.set_metadata("format", "pt");
  w.set_metadata("note", "unicode \xc3\xa9 ok");
  EXPECT_EQ(w.size(), 9u);
  const auto path = dir / "all.safetensors";
  w.write(path);
  EXPECT_FALSE(std::filesystem::exists(dir / "all.safetensors.tmp"));

  SafetensorsReader r(path);
  EXPECT_EQ(r.tensors().size(), 9u);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"b16", "big", "bytes", "empty", "f64", "ids",
                                                 "loss", "short", "weights.f32"}));
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.metadata().at("note"), "unicode \xc3\xa9 ok");

  const auto v = r.view<float>("weights.f32");
  ASSERT_EQ(v.size(), f32.size());
  EXPECT_EQ(std::memcmp(v.data(), f32.data(), 4 * f32.size()), 0);  // bit-exact, incl. -0
  EXPECT_EQ(r.entry("weights.f32").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(r.entry("weights.f32").dtype, StDType::F32);

  const auto b = r.view<bf16>("b16");
  for (std::size_t i = 0; i < b16.size(); ++i) EXPECT_EQ(b[i].bits, b16[i].bits);
  EXPECT_EQ(r.read_f32("b16"), (std::vector<float>{1.0f, -3.5f, round_bf16(1e-3f)}));

  EXPECT_EQ(r.copy<double>("f64"), f64);
  EXPECT_EQ(r.read_f32("f64")[0], static_cast<float>(f64[0]));
  EXPECT_EQ(r.copy<std::int32_t>("ids"), i32);
  EXPECT_EQ(r.read_i32("ids"), i32);
  EXPECT_EQ(r.copy<std::int64_t>("big"), i64);
  EXPECT_EQ(r.copy<std::uint8_t>("bytes"), u8);
  EXPECT_EQ(r.read_i32("bytes"), (std::vector<std::int32_t>{0, 255, 7}));
  EXPECT_EQ(r.read_i32("short"), (std::vector<std::int32_t>{-300, 300}));

  EXPECT_TRUE(r.entry("loss").shape.empty());
  EXPECT_EQ(r.entry("loss").numel(), 1);
  EXPECT_EQ(r.read_f32("loss"), std::vector<float>{4.25f});

  EXPECT_EQ(r.entry("empty").numel(), 0);
  EXPECT_TRUE(r.view<float>("empty").empty());
  EXPECT_TRUE(r.read_f32("empty").empty());
}

TEST(SafetensorsRoundTrip, TypedAccessChecksDtypeAndSize) {
  TempDir dir;
  const std::vector<float> f{1, 2, 3, 4};
  const std::vector<std::int64_t> big{1ll << 33};
  SafetensorsWriter w;
  w.add("f", {4}, f);
  w.add("big", {1}, big);
  w.write(dir / "t.safetensors");
  SafetensorsReader r(dir / "t.safetensors");

  EXPECT_THROW(r.view<bf16>("f"), Error);
  EXPECT_THROW(r.copy<std::int32_t>("f"), Error);
  EXPECT_THROW(r.read_i32("f"), Error);
  EXPECT_THROW(r.read_f32("big"), Error);
  try {
    r.read_i32("big");
    FAIL() << "int64 value 2^33 converted to int32";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit in int32"), std::string::npos) << e.what();
  }
  std::vector<float> wrong(3);
  EXPECT_THROW(r.read_f32("f", wrong), Error);
  std::vector<float> right(4);
  r.read_f32("f", right);
  EXPECT_EQ(right, f);
  try {
    r.entry("missing");
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("t.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'missing'"), std::string::npos) << msg;
  }
  EXPECT_FALSE(r.contains("missing"));
  EXPECT_TRUE(r.contains("f"));
}

TEST(SafetensorsRoundTrip, LayoutIsAlignedSortedAndIndependentOfInsertionOrder) {
  TempDir dir;
  const std::vector<std::uint8_t> a{1, 2, 3};                 // 1-byte, odd length
  const std::vector<bf16> b{to_bf16(1), to_bf16(2), to_bf16(3)};  // 2-byte, odd length
  const std::vector<float> c{1, 2, 3};
  const std::vector<double> d{1, 2, 3};
  const std::vector<float> e{4, 5};

  SafetensorsWriter first;
  first.add("a", {3}, a);
  first.add("b", {3}, b);
  first.add("c", {3}, c);
  first.add("d", {3}, d);
  first.add("e", {2}, e);
  first.set_metadata("k", "v");
  first.write(dir / "1.safetensors");

  SafetensorsWriter second;
  second.set_metadata("k", "v");
  second.add("e", {2}, e);
  second.add("d", {3}, d);
  second.add("c", {3}, c);
  second.add("b", {3}, b);
  second.add("a", {3}, a);
  second.write(dir / "2.safetensors");

  const std::string bytes = slurp(dir / "1.safetensors");
  EXPECT_EQ(bytes, slurp(dir / "2.safetensors"));

  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes[0 + 8], '{');
  // The padding is spaces after the closing brace.
  const std::string header = bytes.substr(8, header_len);
  const auto close = header.rfind('}');
  EXPECT_EQ(header.substr(close + 1), std::string(header_len - close - 1, ' '));

  SafetensorsReader r(dir / "1.safetensors");
  std::vector<std::string> order;
  for (const auto& t : r.tensors()) {
    order.push_back(t.name);
    EXPECT_EQ((8 + header_len + t.begin) % st_dtype_size(t.dtype), 0u) << t.name;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"d", "c", "e", "b", "a"}));
  // Zero-copy views work for every tensor because of that alignment.
  EXPECT_EQ(r.view<double>("d")[2], 3.0);
  EXPECT_EQ(r.view<float>("e")[1], 5.0f);
  EXPECT_EQ(to_f32(r.view<bf16>("b")[2]), 3.0f);
}

TEST(SafetensorsRoundTrip, OverwriteReplacesWholeFileAndLeavesNoTemporary) {
  TempDir dir;
  const auto path = dir / "ckpt.safetensors";
  std::vector<float> big(10000, 1.0f);
  SafetensorsWriter w1;
  w1.add("x", {10000}, big);
  w1.write(path);
  const std::vector<float> small{2.0f};
  SafetensorsWriter w2;
  w2.add("y", {1}, small);
  w2.write(path);
  SafetensorsReader r(path);
  EXPECT_EQ(r.names(), std::vector<std::string>{"y"});
  EXPECT_FALSE(std::filesystem::exists(dir / "ckpt.safetensors.tmp"));
}

TEST(SafetensorsRoundTrip, NoTensorsAtAll) {
  TempDir dir;
  SafetensorsWriter w;
  w.write(dir / "empty.safetensors");
  SafetensorsReader r(dir / "empty.safetensors");
  EXPECT_TRUE(r.tensors().empty());
  EXPECT_TRUE(r.metadata().empty());
}

TEST(SafetensorsRoundTrip, WriterRejectsBadInput) {
  TempDir dir;
  const std::vector<float> f{1, 2, 3};
  SafetensorsWriter w;
  w.add("x", {3}, f);
  EXPECT_THROW(w.add("x", {3}, f), Error);            // repeated name
  EXPECT_THROW(w.add("", {3}, f), Error);             // empty name
  EXPECT_THROW(w.add("__metadata__", {3}, f), Error);  // reserved
  EXPECT_THROW(w.add("y", {2, 2}, f), Error);          // 4 elements promised, 3 given
  EXPECT_THROW(w.add("z", StDType::F32, {-1}, f.data()), Error);
  EXPECT_THROW(w.add("huge", StDType::F64, {1ll << 62}, f.data()), Error);  // bytes overflow
  EXPECT_THROW(w.add("n", StDType::F32, {2}, nullptr), Error);
  EXPECT_EQ(w.size(), 1u);  // failed adds leave nothing behind
  w.add("n", StDType::F32, {2}, f.data());  // the name is still free after the failure
  EXPECT_EQ(w.size(), 2u);

  try {
    w.write(dir / "no_such_folder" / "x.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_folder/x.safetensors"), std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsRoundTrip, MovedReaderKeepsItsMapping) {
  TempDir dir;
  const std::vector<float> f{7, 8};
  SafetensorsWriter w;
  w.add("f", {2}, f);
  w.write(dir / "m.safetensors");
  SafetensorsReader a(dir / "m.safetensors");
  const auto view = a.view<float>("f");
  SafetensorsReader b(std::move(a));
  EXPECT_EQ(b.view<float>("f").data(), view.data());
  SafetensorsReader c(dir / "m.safetensors");
  c = std::move(b);
  EXPECT_EQ(c.read_f32("f"), f);
}

TEST(SafetensorsRoundTrip, EngineTensorsInAndOutWithShapeCheck) {
  TempDir dir;
  std::vector<float> w{1.0f, 2.5f, -3.0f, 1.0f + std::ldexp(1.0f, -8), 5.0f, 6.0f};
  std::vector<bf16> wb{to_bf16(7.0f), to_bf16(8.0f)};
  SafetensorsWriter writer;
  writer.add("w", TensorView(w.data(), {2, 3}));
  writer.add("wb", TensorView(wb.data(), {2}));
  writer.write(dir / "e.safetensors");
  SafetensorsReader r(dir / "e.safetensors");
  EXPECT_EQ(r.entry("w").dtype, StDType::F32);
  EXPECT_EQ(r.entry("wb").dtype, StDType::BF16);

  std::vector<float> back(6);
  r.read_into("w", TensorView(back.data(), {2, 3}));
  EXPECT_EQ(back, w);
  // fp32 file -> bf16 buffer rounds to nearest even; bf16 file -> fp32 buffer is exact.
  std::vector<bf16> as_bf16(6);
  r.read_into("w", TensorView(as_bf16.data(), {2, 3}));
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(as_bf16[i].bits, to_bf16(w[i]).bits);
  std::vector<float> wide(2);
  r.read_into("wb", TensorView(wide.data(), {2}));
  EXPECT_EQ(wide, (std::vector<float>{7.0f, 8.0f}));
  std::vector<bf16> same(2);
  r.read_into("wb", TensorView(same.data(), {2}));
  EXPECT_EQ(same[1].bits, wb[1].bits);

  try {
    r.read_into("w", TensorView(back.data(), {3, 2}));
    FAIL() << "shape mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w' has shape [2, 3] but [3, 2] is expected"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace primus::io
