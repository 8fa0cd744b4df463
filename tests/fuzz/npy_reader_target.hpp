// Fuzz target: the .npy reader for Megatron's index cache files (document, sample and
// shuffle indices a later run reads back instead of rebuilding them).
// Run by libFuzzer (npy_reader_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>

#include "core/error.hpp"
#include "data/npy_file.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void npy_reader(const std::uint8_t* data, std::size_t size) {
  const auto path = primus::fuzz::write_input("index.npy", data, size);
  try {
    const auto array = primus::data::read_npy(path.string());
    (void)array.as_int64();
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
