#include "checkpoint/checkpoint_reader.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/crc32c.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint {

std::optional<fs::path> resolve_checkpoint_dir(const fs::path& load, std::optional<std::int64_t> step) {
  std::error_code ec;
  if (!fs::exists(load, ec)) return std::nullopt;
  if (!fs::is_directory(load, ec)) fail("{}: is not a folder (load names the folder checkpoints are saved in)", load.string());
  // A checkpoint folder named directly.
  if (!step && fs::is_regular_file(load / kMetadataFile, ec)) return load;
  std::int64_t iteration;
  if (step) {
    iteration = *step;
  } else {
    const std::optional<std::int64_t> tracked = read_tracker(load);
    if (!tracked) return std::nullopt;
    iteration = *tracked;
  }
  const fs::path dir = iteration_dir(load, iteration);
  if (!fs::is_directory(dir, ec)) {
    if (step) {
      const std::vector<std::int64_t> have = complete_iterations(load);
      fail("{}: no checkpoint of iteration {} (ckpt_step); {} holds {}", dir.string(), iteration, load.string(),
           have.empty() ? std::string("none") : fmt::format("iterations {}", fmt::join(have, ", ")));
    }
    fail("{}: missing, although {} names iteration {}", dir.string(), tracker_path(load).string(), iteration);
  }
  if (!fs::is_regular_file(dir / kMetadataFile, ec))
    fail("{}: not a complete checkpoint ({} is missing)", dir.string(), kMetadataFile);
  return dir;
}

CheckpointReader::CheckpointReader(fs::path dir) : dir_(std::move(dir)) {
  const fs::path path = dir_ / kMetadataFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (!fs::is_directory(dir_, ec)) fail("{}: checkpoint folder not found", dir_.string());
    fail("{}: not a Primus checkpoint folder ({} is missing)", dir_.string(), kMetadataFile);
  }
  const std::string text = read_input_file(path, "checkpoint metadata", 1ull << 30);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON (truncated or corrupt): {}", path.string(), e.what());
  }
  meta_ = CheckpointMetadata::from_json(j, path.string());
}

CheckpointReader::~CheckpointReader() = default;
CheckpointReader::CheckpointReader(CheckpointReader&&) noexcept = default;

const StoredTensor& CheckpointReader::tensor(const std::string& name) const {
  auto it = meta_.tensors.find(name);
  if (it == meta_.tensors.end()) fail("{}: the checkpoint has no tensor '{}'", dir_.string(), name);
  return it->second;
}

std::string CheckpointReader::verify(int rank, int size) const {
  for (std::size_t i = 0; i < meta_.files.size(); ++i) {
    if (static_cast<int>(i % static_cast<std::size_t>(size)) != rank) continue;
    const StoredFile& f = meta_.files[i];
    const fs::path path = dir_ / f.name;
    std::error_code ec;
    if (!fs::exists(path, ec)) return fmt::format("{}: missing (the checkpoint is incomplete)", path.string());
    const auto size_on_disk = fs::file_size(path, ec);
    if (ec) return fmt::format("{}: cannot read: {}", path.string(), ec.message());
    if (size_on_disk != f.bytes)
      return fmt::format("{}: {} bytes but the checkpoint recorded {} ({})", path.string(), size_on_disk, f.bytes,
                         size_on_disk < f.bytes ? "truncated" : "the file was changed");
    try {
      const std::uint32_t crc = crc32c_of_file(path);
      if (crc != f.crc32c)
        return fmt::format("{}: checksum mismatch (CRC-32C {} but the checkpoint recorded {}): the file is corrupt",
                           path.string(), crc32c_hex(crc), crc32c_hex(f.crc32c));
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  return {};
}

void CheckpointReader::verify(CheckpointGroup& group) const { group.agree(verify(group.rank(), group.size())); }

const io::SafetensorsReader& CheckpointReader::file(const std::string& name) {
  auto it = files_.find(name);
  if (it != files_.end()) return *it->second;
  const fs::path path = dir_ / name;
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: missing (the checkpoint is incomplete)", path.string());
  if (const StoredFile* f = meta_.file(name)) {
    const auto size = fs::file_size(path, ec);
    if (!ec && size != f->bytes)
      fail("{}: {} bytes but the checkpoint recorded {} ({})", path.string(), size, f->bytes,
           size < f->bytes ? "truncated" : "the file was changed");
  }
  auto reader = std::make_unique<io::SafetensorsReader>(path);
  return *files_.emplace(name, std::move(reader)).first->second;
}

void CheckpointReader::read(const std::string& name, const Region& region, float* dst, bool zero_fill_extra_rows) {
  const StoredTensor& t = tensor(name);
  const std::int64_t stored_cols = t.cols() ? t.cols() : 1;
  if (region.col_begin < 0 || region.col_begin + region.cols > stored_cols)
    fail("{}: tensor '{}' has {} columns; columns [{}, {}) were asked for (the checkpoint holds another model)",
         dir_.string(), name, stored_cols, region.col_begin, region.col_begin + region.cols);
  std::int64_t expected = region.numel();
  if (zero_fill_extra_rows) {
    std::int64_t at = 0;
    for (const RowRange& r : region.rows) {
      for (std::int64_t g = r.begin; g < r.begin + r.count; ++g, ++at)
        if (g >= t.rows()) {
          std::memset(dst + at * region.cols, 0, static_cast<size_t>(region.cols) * sizeof(float));
          expected -= region.cols;
        }
    }
  } else {
    for (const RowRange& r : region.rows)
      if (r.begin + r.count > t.rows())
        fail("{}: tensor '{}' has {} rows; rows up to {} were asked for (the checkpoint holds another model)",
             dir_.string(), name, t.rows(), r.begin + r.count);
  }
  std::int64_t copied = 0;
  for (const StoredPiece& p : t.pieces) {
    if (intersection_size(p.region, region) == 0) continue;
    const io::SafetensorsReader& f = file(p.file);
    if (!f.contains(p.key)) fail("{}: tensor '{}' is missing (the file does not match metadata.json)", f.path().string(), p.key);
    const io::TensorEntry& e = f.entry(p.key);
    if (e.dtype != io::StDType::F32 || e.numel() != p.region.numel())
      fail("{}: tensor '{}' has {} elements of {} but metadata.json describes {} F32 elements", f.path().string(), p.key,
           e.numel(), io::st_dtype_name(e.dtype), p.region.numel());
    const auto bytes = f.bytes(p.key);
    const float* src = reinterpret_cast<const float*>(bytes.data());
    std::vector<float> aligned;
    if (reinterpret_cast<std::uintptr_t>(src) % alignof(float) != 0) {
      aligned.resize(static_cast<size_t>(p.region.numel()));
      std::memcpy(aligned.data(), bytes.data(), bytes.size());
      src = aligned.data();
    }
    copied += copy_intersection(p.region, src, region, dst);
  }
  if (copied != expected)
    fail("internal: {}: tensor '{}': {} of {} requested elements found", dir_.string(), name, copied, expected);
}

std::vector<float> CheckpointReader::read_whole(const std::string& name) {
  const StoredTensor& t = tensor(name);
  const Region all = whole_region(t.rows(), t.cols());
  std::vector<float> out(static_cast<size_t>(all.numel()));
  read(name, all, out.data());
  return out;
}

}  // namespace primus::checkpoint
