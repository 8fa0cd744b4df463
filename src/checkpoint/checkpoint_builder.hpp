// Writes a checkpoint from a single process, one whole tensor at a time, so that converters
// (Hugging Face and Megatron imports) handle models larger than memory: only the tensor being
// written is held. The folder is published the way every save is (checkpoint_saver.hpp:
// .partial folder, metadata.json with CRC-32C per file, rename, tracker).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_saver.hpp"
#include "checkpoint/model_tensors.hpp"

namespace primus::checkpoint {

class CheckpointBuilder {
 public:
  // iteration: kRelease for a release checkpoint (SAVE/release, tracker "release").
  CheckpointBuilder(std::filesystem::path save, std::int64_t iteration, std::uint64_t max_file_bytes = 4ull << 30);

  // Writes the tensors (whole, F32) into files of at most max_file_bytes (a larger tensor gets a
  // file of its own); produce(t, out) fills out with t.numel() values.
  void write(const std::vector<ModelTensor>& tensors, const std::function<void(const ModelTensor&, float*)>& produce);

  // One file of pieces (regions of global tensors); produce(i, out) fills out with piece i's
  // region.numel() values. The pieces of each tensor, over all files, must partition it.
  struct Piece {
    std::string tensor;
    std::vector<std::int64_t> shape;  // the global tensor's
    Region region;
  };
  void write_file(const std::vector<Piece>& pieces, const std::function<void(std::size_t, float*)>& produce);
  SaveResult commit(nlohmann::json state);

 private:
  std::filesystem::path save_;
  std::int64_t iteration_;
  std::uint64_t max_file_bytes_;
  CheckpointMetadata meta_;
};

}  // namespace primus::checkpoint
