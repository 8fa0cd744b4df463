// Saves a checkpoint crash-safely, from every rank at once, synchronously or in the background.
//
// A save (collective over the CheckpointGroup):
//   1. rank 0 creates SAVE/.iter_0000100.partial/ (removing a stale one a crashed save left);
//   2. every rank that holds pieces writes rank_RRRRR.safetensors there (each piece a tensor of
//      the file; CRC-32C computed while writing; file and folder fsync'ed);
//   3. rank 0 gathers every rank's pieces and checksums and the per-rank state, writes
//      metadata.json (fsync), fsyncs the folder, renames it to SAVE/iter_0000100/ (an existing
//      checkpoint of that iteration is swapped out atomically and then removed), fsyncs SAVE/;
//   4. only then rank 0 replaces latest_checkpointed_iteration.txt atomically (fsync), and
//   5. applies the retention policy, deleting older checkpoints (renamed to .iter_*.deleting
//      first, so a half-deleted folder never looks like a checkpoint).
// A crash (kill -9) anywhere leaves the previous complete checkpoint and a tracker that names a
// complete checkpoint. Every error is agreed on: all ranks fail with one message.
//
// Asynchronous saves (async_save): step 1 runs at once, then each rank copies its pieces into a
// staging buffer (reused from save to save) and a background thread does step 2 while training
// goes on; finish() — called by the trainer at the same points on every rank — does 3–5 once all
// ranks' files are written. A new save first finishes the previous one.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_group.hpp"
#include "checkpoint/checkpoint_metadata.hpp"
#include "checkpoint/tensor_region.hpp"

namespace primus::checkpoint {

// One piece of a global tensor this rank writes; `data` holds region.numel() floats, row-major,
// and must stay valid and unchanged until save() returns (save_async() copies it at once).
struct SavePiece {
  std::string tensor;
  std::vector<std::int64_t> shape;  // the global tensor's
  Region region;
  const float* data = nullptr;
};

// Which older checkpoints a completed save deletes.
struct RetentionPolicy {
  std::int64_t keep_last = 0;                    // keep the newest N (0: keep all)
  std::optional<std::int64_t> retain_interval;   // Megatron's save_retain_interval
};

struct SaveRequest {
  std::filesystem::path save_dir;
  std::int64_t iteration = 0;
  nlohmann::json state = nlohmann::json::object();  // rank 0's is stored as metadata "state"
  nlohmann::json rank_state;                        // each rank's, stored as state["ranks"][rank]
  std::vector<SavePiece> pieces;
  RetentionPolicy retention;
};

struct SaveResult {
  std::filesystem::path dir;
  std::uint64_t bytes = 0;       // all ranks' files
  std::vector<std::int64_t> deleted;
};

class CheckpointSaver {
 public:
  explicit CheckpointSaver(CheckpointGroup& group);
  ~CheckpointSaver();  // joins a background write (its checkpoint stays incomplete)
  CheckpointSaver(const CheckpointSaver&) = delete;
  CheckpointSaver& operator=(const CheckpointSaver&) = delete;

  SaveResult save(const SaveRequest& request);
  void save_async(const SaveRequest& request);
  // Finishes a background save when every rank's files are written (wait: block until they
  // are). Returns the result when a save was completed by this call.
  std::optional<SaveResult> finish(bool wait);
  bool pending() const { return static_cast<bool>(job_); }

  // Test aid: called at named points of a save ("prepared", "file_opened", "piece_written",
  // "files_written", "metadata_written", "renamed", "tracker_written", "retention_done") so that
  // a test can kill the process exactly there. Process-wide; nullptr to clear.
  static void set_test_hook(std::function<void(const char* point)> hook);

 private:
  struct Job;
  void prepare(const SaveRequest& request);
  std::string write_rank_file(Job& job);
  SaveResult finalize(Job& job);

  CheckpointGroup& group_;
  std::unique_ptr<Job> job_;
  std::vector<float> staging_;  // async copies, kept for the next save
};

// The steps of a save that one process does (rank 0; converters that write a checkpoint alone):
// creating SAVE/.iter_*.partial/ (removing what interrupted saves left), and publishing it —
// metadata.json, rename into place, tracker, retention.
void prepare_partial_folder(const std::filesystem::path& save, std::int64_t iteration);
SaveResult publish_checkpoint(const std::filesystem::path& save, std::int64_t iteration, const CheckpointMetadata& metadata,
                              const RetentionPolicy& retention);

// Applies a retention policy to `save` after `newest` was completed; returns the deleted
// iterations. Rank 0 only.
std::vector<std::int64_t> apply_retention(const std::filesystem::path& save, std::int64_t newest,
                                          std::optional<std::int64_t> previous, const RetentionPolicy& policy);

}  // namespace primus::checkpoint
