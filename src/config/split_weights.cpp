#include "config/split_weights.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

std::array<double, 3> parse_split_weights(const std::string& split, const std::string& where_given) {
  const std::string where = where_given.empty() ? "split '" + printable(split) + "'" : where_given;
  // Megatron takes every run of [.0-9] characters as a number.
  std::vector<double> parts;
  std::size_t i = 0;
  while (i < split.size()) {
    if (!(std::isdigit(static_cast<unsigned char>(split[i])) || split[i] == '.')) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < split.size() && (std::isdigit(static_cast<unsigned char>(split[j])) || split[j] == '.')) ++j;
    const std::string tok = split.substr(i, j - i);
    char* end = nullptr;
    const double v = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) fail("{}: '{}' is not a number", where, printable(tok));
    if (!std::isfinite(v)) fail("{}: '{}' is too large", where, printable(tok, 40));
    parts.push_back(v);
    i = j;
  }
  if (parts.size() > 3) fail("{}: at most 3 parts (train, valid, test)", where);
  while (parts.size() < 3) parts.push_back(0.0);
  if (parts[0] + parts[1] + parts[2] <= 0.0) fail("{}: the parts must not all be zero", where);
  const double sum = parts[0] + parts[1] + parts[2];
  return {parts[0] / sum, parts[1] / sum, parts[2] / sum};
}

}  // namespace primus::config
