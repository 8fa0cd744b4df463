// metadata.json of a checkpoint folder: what makes the folder a checkpoint. Written last (a
// folder without it is not complete) by rank 0 from every rank's contribution:
//
//   {
//     "format": "primus-checkpoint", "version": 1, "iteration": 100,
//     "state": { ... },          the trainer's state (training_state.hpp): consumed samples,
//                                scheduler, optimizer settings, RNG per rank, the layout it was
//                                saved with, the model's shape and the resolved arguments
//     "files": [ {"name": "rank_00000.safetensors", "bytes": N, "crc32c": "1a2b3c4d"}, ... ],
//     "tensors": {
//       "embedding.word_embeddings.weight": {
//         "shape": [32000, 512], "dtype": "F32",
//         "pieces": [ {"file": "rank_00000.safetensors", "key": "embedding.word_embeddings.weight",
//                      "rows": [[0, 16000]], "cols": [0, 512]}, ... ] },
//       "optimizer.state.exp_avg.embedding.word_embeddings.weight": { ... },
//       "decoder.layers.1.mlp.router.expert_bias": { ... } } }
//
// Tensors are GLOBAL (one-process shapes) under Megatron-Core's names; optimizer state uses
// Megatron's distributed-checkpoint names (optimizer.state.exp_avg.<param>, .exp_avg_sq.,
// .momentum_buffer. for SGD). Each piece is a Region (tensor_region.hpp) of the global tensor
// stored under `key` in `file`, its values row-major over the region. The pieces of a tensor
// partition it exactly (checked on read).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/tensor_region.hpp"

namespace primus::checkpoint {

inline constexpr const char* kFormatName = "primus-checkpoint";
inline constexpr int kFormatVersion = 1;

struct StoredPiece {
  std::string file, key;
  Region region;
};

struct StoredTensor {
  std::vector<std::int64_t> shape;  // global: [rows] or [rows, cols]
  std::string dtype = "F32";
  std::vector<StoredPiece> pieces;

  std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  std::int64_t cols() const { return shape.size() > 1 ? shape[1] : 0; }
};

struct StoredFile {
  std::string name;
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
};

struct CheckpointMetadata {
  int version = kFormatVersion;
  std::int64_t iteration = 0;
  nlohmann::json state = nlohmann::json::object();
  std::vector<StoredFile> files;
  std::map<std::string, StoredTensor> tensors;

  nlohmann::json to_json() const;
  // Parses and validates (every piece in a listed file, the pieces of each tensor partitioning
  // it); throws primus::Error "<path>: ..." naming what is wrong.
  static CheckpointMetadata from_json(const nlohmann::json& j, const std::string& path);
  const StoredFile* file(const std::string& name) const;
};

}  // namespace primus::checkpoint
