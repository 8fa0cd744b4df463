// Fuzz target: Megatron-LM checkpoints as torch.save writes them (`primus checkpoint
// import-megatron`): the zip container (central directory, ZIP64, stored entries), the restricted
// pickle reader (no code execution; an allowlist of callables) and every tensor it references read
// back through its storage, offset and strides.
#pragma once

#include <cstdint>
#include <functional>

#include "checkpoint/megatron/torch_archive.hpp"
#include "core/error.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void torch_checkpoint(const std::uint8_t* data, std::size_t size) {
  using primus::checkpoint::megatron::PyValue;
  const auto path = primus::fuzz::write_input("model_optim_rng.pt", data, size);
  try {
    primus::checkpoint::megatron::TorchFile file(path);
    // Every tensor of the tree (bounded: a pickle can share one value many times).
    int budget = 4096;
    std::function<void(const PyValue&, int)> walk = [&](const PyValue& v, int depth) {
      if (--budget < 0 || depth > 64) return;
      (void)v.describe();
      if (v.kind == PyValue::Kind::Tensor) {
        try {
          (void)file.read_f32(v.tensor);
        } catch (const primus::Error&) {
        }
      }
      for (const auto& item : v.items)
        if (item) walk(*item, depth + 1);
      for (const auto& [k, val] : v.dict) {
        if (k) walk(*k, depth + 1);
        if (val) walk(*val, depth + 1);
      }
    };
    walk(file.root(), 0);
    (void)file.root().get("model");
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
