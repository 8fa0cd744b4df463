// Integer arithmetic on counts derived from user settings (world size, micro-batches, samples,
// schedule lengths, buffer sizes): a result that does not fit in int64 is an error naming what was
// being computed — never a wrapped, saturated or negative count.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace primus {

// a · b; throws primus::Error "<what> = a × b is too large (more than 2^63 − 1)".
std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view what);
// a + b; throws primus::Error "<what> = a + b is too large".
std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view what);
// The product of every factor, checked at each step.
std::int64_t checked_product(std::initializer_list<std::int64_t> factors, std::string_view what);

}  // namespace primus
