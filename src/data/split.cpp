#include "data/split.hpp"

#include <cfenv>
#include <cmath>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "config/split_weights.hpp"
#include "core/error.hpp"

namespace primus::data {

std::string_view split_name(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValid: return "valid";
    case Split::kTest: return "test";
  }
  return "?";
}

std::vector<double> normalize_weights(const std::vector<double>& weights) {
  double sum = 0.0;
  for (double w : weights) sum += w;
  std::vector<double> out;
  out.reserve(weights.size());
  for (double w : weights) out.push_back(w / sum);
  return out;
}

std::array<double, 3> parse_and_normalize_split(const std::string& split) {
  return config::parse_split_weights(split);
}

SplitMatrix split_matrix_from_vector(const std::array<double, 3>& vector) {
  SplitMatrix m;
  double begin = 0.0;
  for (std::size_t i = 0; i < 3; ++i) {
    const double end = begin + vector[i];
    if (end <= begin) {
      m[i] = std::nullopt;
    } else {
      m[i] = std::make_pair(begin, end);
    }
    begin = end;
  }
  return m;
}

nlohmann::ordered_json split_matrix_json(const SplitMatrix& matrix) {
  auto out = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < 3; ++i) {
    if (!matrix[i]) {
      out.push_back(nullptr);
      continue;
    }
    auto pair = nlohmann::ordered_json::array();
    // Megatron's cumulative sum starts from the integer 0, so the first book-end prints as "0".
    if (i == 0) pair.push_back(0);
    else pair.push_back(matrix[i]->first);
    pair.push_back(matrix[i]->second);
    out.push_back(pair);
  }
  return out;
}

std::pair<std::int64_t, std::int64_t> split_range(const std::pair<double, double>& bookends,
                                                  std::int64_t num_elements) {
  // std::nearbyint rounds half to even under the default rounding mode, like Python's round().
  const double n = static_cast<double>(num_elements);
  return {static_cast<std::int64_t>(std::nearbyint(bookends.first * n)),
          static_cast<std::int64_t>(std::nearbyint(bookends.second * n))};
}

}  // namespace primus::data
