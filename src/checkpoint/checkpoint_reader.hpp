// Reads a checkpoint folder written by CheckpointSaver: metadata.json first (parsed and
// validated), then only the bytes a caller asks for — any Region of any global tensor, whatever
// layout wrote the pieces (their intersections with the requested region are copied). Files are
// memory-mapped on first use and validated as safetensors; every missing, truncated or corrupt
// file, and every checksum mismatch, is one line naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_group.hpp"
#include "checkpoint/checkpoint_metadata.hpp"
#include "io/safetensors_reader.hpp"

namespace primus::checkpoint {

// Which checkpoint folder `load` (a folder holding latest_checkpointed_iteration.txt, or a
// checkpoint folder itself) designates; `step` (ckpt_step) picks an iteration instead of the
// tracker's. nullopt when `load` holds no checkpoint (no tracker, no metadata.json). Throws
// primus::Error when the tracker or the requested step names a folder that is not a complete
// checkpoint.
std::optional<std::filesystem::path> resolve_checkpoint_dir(const std::filesystem::path& load,
                                                            std::optional<std::int64_t> step = std::nullopt);

class CheckpointReader {
 public:
  // Reads DIR/metadata.json; throws primus::Error naming the file when it is missing or invalid.
  explicit CheckpointReader(std::filesystem::path dir);
  ~CheckpointReader();
  CheckpointReader(CheckpointReader&&) noexcept;

  const std::filesystem::path& dir() const { return dir_; }
  const CheckpointMetadata& metadata() const { return meta_; }
  std::int64_t iteration() const { return meta_.iteration; }
  const nlohmann::json& state() const { return meta_.state; }
  bool has(const std::string& tensor) const { return meta_.tensors.count(tensor) != 0; }
  // Throws primus::Error naming the checkpoint and the tensor when absent.
  const StoredTensor& tensor(const std::string& name) const;

  // Checks files i with i % size == rank (all files with the defaults): present, the recorded
  // size, the recorded CRC-32C. Returns what is wrong ("" when all hold).
  std::string verify(int rank = 0, int size = 1) const;
  // verify() spread over the group's ranks, failure agreed by all.
  void verify(CheckpointGroup& group) const;

  // Fills dst (region.numel() floats, row-major over the region) with tensor's values there.
  // Rows at or beyond the stored tensor's row count are zero-filled when zero_fill_extra_rows
  // (a vocabulary padded differently); otherwise every element must be stored.
  void read(const std::string& tensor, const Region& region, float* dst, bool zero_fill_extra_rows = false);
  // The whole global tensor.
  std::vector<float> read_whole(const std::string& tensor);

 private:
  const io::SafetensorsReader& file(const std::string& name);

  std::filesystem::path dir_;
  CheckpointMetadata meta_;
  std::map<std::string, std::unique_ptr<io::SafetensorsReader>> files_;
};

}  // namespace primus::checkpoint
