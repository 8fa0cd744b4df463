#include "core/aligned.hpp"

#include <gtest/gtest.h>

#include <cstdint>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
#include "core/timer.hpp"

namespace primus {
namespace {

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

TEST(CoreAligned, BufferIsAlignedAndZeroed) {
  AlignedBuffer<float> b(1000);
  EXPECT_TRUE(aligned64(b.data()));
  for (float v : b) EXPECT_EQ(v, 0.0f);
  AlignedBuffer<float> moved = std::move(b);
  EXPECT_EQ(moved.size(), 1000u);
  EXPECT_EQ(b.data(), nullptr);
  AlignedBuffer<float> big(3 << 20);  // parallel zeroing path
  EXPECT_EQ(big[(3 << 20) - 1], 0.0f);
}

TEST(CoreAligned, ArenaCarvesAlignedDisjointSlots) {
  Arena arena;
  auto a = arena.reserve<float>(3);
  auto b = arena.reserve<bf16>(100);
  auto c = arena.reserve<double>(7);
  EXPECT_THROW(arena.get(a), Error);
  arena.allocate();
  EXPECT_THROW(arena.reserve<float>(1), Error);
  float* pa = arena.get(a);
  bf16* pb = arena.get(b);
  double* pc = arena.get(c);
  EXPECT_TRUE(aligned64(pa) && aligned64(pb) && aligned64(pc));
  EXPECT_GE(reinterpret_cast<std::byte*>(pb) - reinterpret_cast<std::byte*>(pa), 12);
  EXPECT_GE(reinterpret_cast<std::byte*>(pc) - reinterpret_cast<std::byte*>(pb), 200);
  EXPECT_EQ(arena.bytes(), 64u + 256u + 64u);
  EXPECT_EQ(pc[6], 0.0);
}

TEST(CoreTensor, ViewShapeAndDtypeChecks) {
  float data[24] = {};
  TensorView t(data, {2, 3, 4});
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.bytes(), 96u);
  EXPECT_EQ(t.f32(), data);
  EXPECT_THROW(t.bf16_ptr(), Error);
  EXPECT_THROW(t.size(3), Error);
}

TEST(CoreThreads, CountsAndTimer) {
  EXPECT_GE(num_threads(), 1);
  EXPECT_GE(available_cores(), 1);
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), Error);
  Timer t;
  const double a = t.seconds();
  const double b = t.seconds();
  EXPECT_GE(a, 0.0);
  EXPECT_GE(b, a);
}

}  // namespace
}  // namespace primus
