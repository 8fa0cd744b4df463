// Portable 16-lane fp32 vectors (GCC/Clang vector extensions): one AVX-512 register on this
// machine, two or four narrower registers elsewhere, so the kernels need no intrinsics and no
// per-ISA copies. Also a vectorisable exp (the C library's is scalar), used by softmax,
// attention and the activations.
#pragma once

#include <cstdint>
#include <cstring>

namespace primus::kernels::simd {

inline constexpr int kLanes = 16;
using v16 = float __attribute__((vector_size(64)));
using i16 = std::int32_t __attribute__((vector_size(64)));

// Unaligned loads/stores (memcpy compiles to one vector move).
inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }
inline v16 splat(float x) { return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

// Pins a value in a vector register: stops the compiler from folding a reused load into every
// FMA as a memory operand (which makes register-blocked micro-kernels load-bound).
inline void in_register(v16& v) {
#if defined(__GNUC__) && defined(__x86_64__) && defined(__AVX512F__)
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

inline float hsum(v16 v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}
inline float hmax(v16 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline v16 vmax(v16 a, v16 b) { return a > b ? a : b; }

// 2^x for x in fp32, relative error ~2e-7; x <= -127 gives exactly 0 (so -inf masks work),
// x >= 128 saturates to 2^128 = inf.
inline v16 exp2(v16 x) {
  const v16 lo = splat(-127.0f);
  const auto underflow = x <= lo;
  x = x < lo ? lo : x;
  x = x > splat(128.0f) ? splat(128.0f) : x;
  // Round to nearest integer with the 1.5*2^23 trick; f in [-0.5, 0.5].
  const v16 magic = splat(12582912.0f);
  const v16 t = x + magic;
  const v16 n = t - magic;
  const v16 f = x - n;
  // 2^f = e^(f ln2), Taylor to degree 7 (error < 2e-8 on |f ln2| <= 0.35).
  v16 p = splat(1.5252734e-5f);
  p = p * f + 1.5403530e-4f;
  p = p * f + 1.3333558e-3f;
  p = p * f + 9.6181291e-3f;
  p = p * f + 5.5504109e-2f;
  p = p * f + 2.4022651e-1f;
  p = p * f + 6.9314718e-1f;
  p = p * f + 1.0f;
  i16 ti, pi;
  std::memcpy(&ti, &t, sizeof(t));
  std::memcpy(&pi, &p, sizeof(p));
  // Low bits of t hold n (two's complement relative to the magic's mantissa): scale exponent.
  // Split the scale in two so that n = -127 and n = 128 do not overflow the exponent field.
  const i16 n_int = ti - 0x4B400000;
  const i16 half = n_int >> 1;
  pi = pi + (half << 23);
  v16 r;
  std::memcpy(&r, &pi, sizeof(r));
  const i16 rest = ((n_int - half) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &rest, sizeof(scale));
  r = r * scale;
  return underflow ? v16{} : r;
}

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;
inline v16 exp(v16 x) { return exp2(x * kLog2e); }

// Scalar versions through the same code so scalar tails round identically to vector bodies.
inline float exp2(float x) { return exp2(splat(x))[0]; }
inline float exp(float x) { return exp(splat(x))[0]; }

}  // namespace primus::kernels::simd
