// Fuzz target: the safetensors reader (checkpoints and Hugging Face weights): header
// parsing, offsets and overlap checks, and every tensor read back in every form the model loads.
// Run by libFuzzer (safetensors_reader_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "fuzz_files.hpp"
#include "io/safetensors_reader.hpp"

namespace primus::fuzz {

inline void safetensors_reader(const std::uint8_t* data, std::size_t size) {
  const auto path = primus::fuzz::write_input("model.safetensors", data, size);
  try {
    primus::io::SafetensorsReader reader(path);
    (void)reader.metadata();
    for (const auto& e : reader.tensors()) {
      (void)reader.bytes(e.name);
      try {
        (void)reader.read_f32(e.name);
      } catch (const primus::Error&) {
      }
      try {
        (void)reader.read_i32(e.name);
      } catch (const primus::Error&) {
      }
    }
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
