// Where checkpoints live, as Megatron lays them out:
//
//   SAVE/latest_checkpointed_iteration.txt    the newest complete checkpoint's iteration ("100",
//                                             or "release" for a release checkpoint)
//   SAVE/iter_0000100/                        one folder per checkpoint (iteration, 7 digits)
//   SAVE/release/                             a release checkpoint (iteration 0)
//
// Work in progress never looks like a checkpoint: a save writes SAVE/.iter_0000100.partial/ and
// renames it into place when complete; a deletion renames the folder to
// SAVE/.iter_0000100.deleting/ before removing it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace primus::checkpoint {

inline constexpr const char* kTrackerFile = "latest_checkpointed_iteration.txt";
inline constexpr const char* kMetadataFile = "metadata.json";
// Iteration value of a release checkpoint (tracker text "release").
inline constexpr std::int64_t kRelease = -1;

std::string iteration_dir_name(std::int64_t iteration);  // "iter_0000100" or "release"
std::filesystem::path iteration_dir(const std::filesystem::path& save, std::int64_t iteration);
std::filesystem::path partial_dir(const std::filesystem::path& save, std::int64_t iteration);
std::filesystem::path tracker_path(const std::filesystem::path& save);

// The tracker's iteration (kRelease for "release"); nullopt when the file does not exist.
// Throws primus::Error naming the file when it is not an iteration number.
std::optional<std::int64_t> read_tracker(const std::filesystem::path& save);
// Replaces the tracker atomically and durably.
void write_tracker(const std::filesystem::path& save, std::int64_t iteration);

// Iterations of the complete checkpoints (folders iter_NNNNNNN holding metadata.json) in `save`,
// ascending.
std::vector<std::int64_t> complete_iterations(const std::filesystem::path& save);

// fsync of a folder (its entries survive a crash); errors are reported, not thrown.
bool sync_folder(const std::filesystem::path& dir);

}  // namespace primus::checkpoint
