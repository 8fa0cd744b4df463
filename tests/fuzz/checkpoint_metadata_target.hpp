// Fuzz target: a checkpoint folder's metadata.json (what `load`, `checkpoint inspect` and
// resharding trust): format version, tensors and their pieces (row ranges × columns), files with
// sizes and CRC-32C. The folder also holds one valid safetensors file, model_00000.safetensors
// (two F32 tensors "a" [4, 3] and "b" [5]), so that fuzzed pieces point into real data: every
// global tensor is then verified and read back whole and by region.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/error.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline const std::string& checkpoint_metadata_data_file() {
  static const std::string bytes = [] {
    const std::string header =
        R"({"a":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]},"b":{"dtype":"F32","shape":[5],"data_offsets":[48,68]}})";
    std::string out(8, '\0');
    std::uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    out += header;
    for (int i = 0; i < 17; ++i) {
      const float f = 0.5f * static_cast<float>(i);
      out.append(reinterpret_cast<const char*>(&f), 4);
    }
    return out;
  }();
  return bytes;
}

inline void checkpoint_metadata(const std::uint8_t* data, std::size_t size) {
  const auto dir = primus::fuzz::scratch_dir() / "iter_0000010";
  static const bool made = [&] {
    std::filesystem::create_directories(dir);
    const std::string& f = checkpoint_metadata_data_file();
    primus::fuzz::write_input("iter_0000010/model_00000.safetensors", f.data(), f.size());
    return true;
  }();
  (void)made;
  primus::fuzz::write_input("iter_0000010/metadata.json", data, size);
  try {
    primus::checkpoint::CheckpointReader reader(dir);
    (void)reader.verify();
    for (const auto& [name, t] : reader.metadata().tensors) {
      // The loader reads the model's regions (its own sizes); a whole read is bounded here so that
      // a huge declared shape is a refusal, not the fuzzer's memory limit.
      if (t.rows() > (1 << 12) || t.cols() > (1 << 12)) continue;
      try {
        (void)reader.read_whole(name);
        primus::checkpoint::Region r;
        r.rows = {primus::checkpoint::RowRange{0, 1}};
        r.cols = t.cols() ? t.cols() : 1;
        std::vector<float> one(static_cast<std::size_t>(r.cols));
        reader.read(name, r, one.data(), true);
      } catch (const primus::Error&) {
      }
    }
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
