#include "checkpoint/checkpoint_paths.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint {

std::string iteration_dir_name(std::int64_t iteration) {
  return iteration == kRelease ? std::string("release") : fmt::format("iter_{:07d}", iteration);
}

fs::path iteration_dir(const fs::path& save, std::int64_t iteration) { return save / iteration_dir_name(iteration); }

fs::path partial_dir(const fs::path& save, std::int64_t iteration) {
  return save / fmt::format(".{}.partial", iteration_dir_name(iteration));
}

fs::path tracker_path(const fs::path& save) { return save / kTrackerFile; }

std::optional<std::int64_t> read_tracker(const fs::path& save) {
  const fs::path path = tracker_path(save);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::string text = read_input_file(path, "checkpoint tracker file", 4096);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  text = text.substr(start);
  if (text == "release") return kRelease;
  std::int64_t value = -1;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc() || end != text.data() + text.size() || value < 0)
    fail("{}: '{}' is not an iteration number (the file holds the iteration of the latest checkpoint, or 'release')",
         path.string(), text.substr(0, 40));
  return value;
}

void write_tracker(const fs::path& save, std::int64_t iteration) {
  // Megatron writes the bare number without a newline.
  io::write_file_atomically(tracker_path(save), iteration == kRelease ? "release" : std::to_string(iteration));
}

std::vector<std::int64_t> complete_iterations(const fs::path& save) {
  std::vector<std::int64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(save, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 12 || name.rfind("iter_", 0) != 0) continue;
    std::int64_t value = -1;
    const auto [p, err] = std::from_chars(name.data() + 5, name.data() + name.size(), value);
    if (err != std::errc() || p != name.data() + name.size()) continue;
    std::error_code e2;
    if (fs::is_regular_file(it->path() / kMetadataFile, e2)) out.push_back(value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace primus::checkpoint
