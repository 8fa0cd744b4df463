// `primus checkpoint inspect`: what a checkpoint holds — iteration, the layout it was saved
// with, the model, training counters, every tensor with its shape, dtype and pieces, every file
// with its size — and whether each file's size and CRC-32C still hold.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_reader.hpp"

namespace primus::checkpoint {

struct Inspection {
  nlohmann::ordered_json report;  // everything, for --format json
  std::string text;               // the same for people
  bool checksums_hold = true;
};

// verify: read every file and compare its CRC-32C (otherwise only sizes are checked).
Inspection inspect(const CheckpointReader& checkpoint, bool verify);

}  // namespace primus::checkpoint
