// Megatron's `split` argument ("969,30,1", "98/2/0", "100"): train, valid and test weights,
// normalised. Read the way Megatron reads it (every run of digits and dots is a number), in the
// config layer so that validation and the data pipeline read it the same way.
#pragma once

#include <array>
#include <string>

namespace primus::config {

// Throws primus::Error "<where>: ..." for a part that is not a number, more than three parts or
// parts that are all zero; `where` defaults to "split '<split>'".
std::array<double, 3> parse_split_weights(const std::string& split, const std::string& where = "");

}  // namespace primus::config
