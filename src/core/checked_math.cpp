#include "core/checked_math.hpp"

#include <string>

#include "core/error.hpp"

namespace primus {

std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view what) {
  std::int64_t out;
  if (__builtin_mul_overflow(a, b, &out)) fail("{} = {} × {} is too large (more than 2^63 − 1)", what, a, b);
  return out;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view what) {
  std::int64_t out;
  if (__builtin_add_overflow(a, b, &out)) fail("{} = {} + {} is too large (more than 2^63 − 1)", what, a, b);
  return out;
}

std::int64_t checked_product(std::initializer_list<std::int64_t> factors, std::string_view what) {
  std::int64_t out = 1;
  for (std::int64_t f : factors) {
    std::int64_t next;
    if (__builtin_mul_overflow(out, f, &next)) {
      std::string text;
      for (std::int64_t g : factors) text += (text.empty() ? "" : " × ") + std::to_string(g);
      fail("{} = {} is too large (more than 2^63 − 1)", what, text);
    }
    out = next;
  }
  return out;
}

}  // namespace primus
