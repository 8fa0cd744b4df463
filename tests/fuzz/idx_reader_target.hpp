// Fuzz target: Megatron's indexed dataset reader (PREFIX.idx + PREFIX.bin) — every sequence
// read back, as training and the sample index builder read them. The input is
// "<idx bytes>BIN:<bin bytes>" (no separator: an empty .bin).
// Run by libFuzzer (idx_reader_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "data/indexed_dataset_reader.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void idx_reader(const std::uint8_t* data, std::size_t size) {
  const auto [idx, bin] = primus::fuzz::split_input(data, size, "BIN:");
  primus::fuzz::write_input("d.idx", idx.data(), idx.size());
  primus::fuzz::write_input("d.bin", bin.data(), bin.size());
  try {
    primus::data::IndexedDatasetReader reader((primus::fuzz::scratch_dir() / "d").string());
    std::vector<std::int64_t> tokens;
    std::vector<std::int32_t> ids;
    for (std::int64_t s = 0; s < reader.sequence_count() && s < 4096; ++s) {
      const auto n = reader.sequence_lengths()[static_cast<std::size_t>(s)];
      if (n < 0 || n > (1 << 20)) continue;
      tokens.resize(static_cast<std::size_t>(n));
      ids.resize(static_cast<std::size_t>(n));
      reader.read(s, 0, -1, tokens.data());
      try {
        reader.read(s, 0, -1, ids.data());
      } catch (const primus::Error&) {
      }
      if (n > 1) reader.read(s, 1, n - 1, tokens.data());
    }
    (void)reader.document_indices();
    (void)reader.total_tokens();
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
