// Megatron's train/valid/test split: "969,30,1" → normalised fractions → a "split matrix" of
// [begin, end) book-ends per split, and the sequence-id range each split covers in a dataset
// with N sequences: [round(begin·N), round(end·N)) with Python's round-half-even.
// The split matrix is also part of the index cache description, so its JSON (an integer 0 for
// the first book-end, floats elsewhere, null for an empty split) matches Megatron's exactly.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace primus::data {

enum class Split : int { kTrain = 0, kValid = 1, kTest = 2 };
constexpr std::array<Split, 3> kAllSplits = {Split::kTrain, Split::kValid, Split::kTest};
std::string_view split_name(Split split);  // "train", "valid", "test"

using SplitMatrix = std::array<std::optional<std::pair<double, double>>, 3>;

// Numbers found in `split` (Megatron's regex [.0-9]+), padded with zeros to three, normalised.
// Throws primus::Error naming the string when it has no positive total or more than 3 parts.
std::array<double, 3> parse_and_normalize_split(const std::string& split);
SplitMatrix split_matrix_from_vector(const std::array<double, 3>& vector);
// JSON as Megatron's description writes it.
nlohmann::ordered_json split_matrix_json(const SplitMatrix& matrix);
// Sequence-id range of one split in a dataset of `num_elements` sequences.
std::pair<std::int64_t, std::int64_t> split_range(const std::pair<double, double>& bookends,
                                                  std::int64_t num_elements);
// Megatron's utils.normalize: w / sum(w) in float64.
std::vector<double> normalize_weights(const std::vector<double>& weights);

}  // namespace primus::data
