#include "checkpoint/checkpoint_saver.hpp"

#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/crc32c.hpp"
#include "core/error.hpp"
#include "core/output_folder.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors_stream_writer.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint {

namespace {

std::mutex g_hook_mutex;
std::function<void(const char*)> g_hook;

void hook(const char* point) {
  std::function<void(const char*)> h;
  {
    std::lock_guard<std::mutex> lock(g_hook_mutex);
    h = g_hook;
  }
  if (h) h(point);
}

std::string rank_file_name(int rank) { return fmt::format("rank_{:05d}.safetensors", rank); }

// Runs f and returns its error message (empty on success): errors become agreed failures.
template <typename F>
std::string capture(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

void remove_folder(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) fail("{}: cannot remove the folder: {}", dir.string(), ec.message());
}

// Puts `partial` at `final`; an existing `final` is swapped out atomically and removed.
void move_into_place(const fs::path& partial, const fs::path& final, const fs::path& save, std::int64_t iteration) {
  std::error_code ec;
  if (!fs::exists(final, ec)) {
    if (std::rename(partial.c_str(), final.c_str()) != 0)
      fail("{}: cannot rename the written checkpoint into place: {}", final.string(), std::strerror(errno));
    return;
  }
  const fs::path old = save / fmt::format(".{}.deleting", iteration_dir_name(iteration));
  remove_folder(old);
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, final.c_str(), RENAME_EXCHANGE) == 0) {
    if (std::rename(partial.c_str(), old.c_str()) != 0)
      fail("{}: cannot rename the replaced checkpoint: {}", partial.string(), std::strerror(errno));
  } else {
    // A filesystem without atomic exchange: move the old one aside, then the new one in.
    if (std::rename(final.c_str(), old.c_str()) != 0 || std::rename(partial.c_str(), final.c_str()) != 0)
      fail("{}: cannot replace the existing checkpoint: {}", final.string(), std::strerror(errno));
  }
  sync_folder(save);
  remove_folder(old);
}

}  // namespace

struct CheckpointSaver::Job {
  SaveRequest request;        // pieces point into the caller's memory (sync) or staging_ (async)
  std::thread thread;
  std::atomic<bool> done{false};
  std::string error;
  std::optional<StoredFile> file;
  nlohmann::json pieces = nlohmann::json::array();
};

void CheckpointSaver::set_test_hook(std::function<void(const char* point)> h) {
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  g_hook = std::move(h);
}

CheckpointSaver::CheckpointSaver(CheckpointGroup& group) : group_(group) {}

CheckpointSaver::~CheckpointSaver() {
  if (job_ && job_->thread.joinable()) job_->thread.join();
}

void prepare_partial_folder(const fs::path& save, std::int64_t iteration) {
  prepare_output_folder(save, "checkpoint folder (save)");
  // What an interrupted save or deletion left (never a complete checkpoint).
  std::error_code ec;
  for (fs::directory_iterator it(save, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name[0] == '.' && (name.ends_with(".partial") || name.ends_with(".deleting"))) remove_folder(it->path());
    // The atomic writer's temporary tracker (".latest_checkpointed_iteration.txt." + mkstemp's
    // suffix), left when a save was killed while replacing the tracker.
    else if (name.starts_with(std::string(".") + kTrackerFile + ".")) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
  const fs::path partial = partial_dir(save, iteration);
  remove_folder(partial);
  fs::create_directory(partial, ec);
  if (ec) fail("{}: cannot create the folder: {}", partial.string(), ec.message());
  hook("prepared");
}

SaveResult publish_checkpoint(const fs::path& save, std::int64_t iteration, const CheckpointMetadata& m,
                              const RetentionPolicy& retention) {
  SaveResult result;
  result.dir = iteration_dir(save, iteration);
  for (const StoredFile& f : m.files) result.bytes += f.bytes;
  const fs::path partial = partial_dir(save, iteration);
  const std::string text = m.to_json().dump(1);
  io::write_file_atomically(partial / kMetadataFile, text);
  result.bytes += text.size();
  sync_folder(partial);
  hook("metadata_written");
  const std::optional<std::int64_t> previous = read_tracker(save);
  move_into_place(partial, result.dir, save, iteration);
  sync_folder(save);
  hook("renamed");
  write_tracker(save, iteration);
  hook("tracker_written");
  result.deleted = apply_retention(save, iteration, previous, retention);
  hook("retention_done");
  return result;
}

void CheckpointSaver::prepare(const SaveRequest& r) {
  std::string error;
  if (group_.rank() == 0) error = capture([&] { prepare_partial_folder(r.save_dir, r.iteration); });
  group_.agree(error);
}

std::string CheckpointSaver::write_rank_file(Job& job) {
  return capture([&] {
    const SaveRequest& r = job.request;
    if (r.pieces.empty()) return;
    const std::string name = rank_file_name(group_.rank());
    std::vector<io::TensorDecl> decls;
    std::map<std::string, int> count;
    std::map<std::string, const SavePiece*> by_key;
    for (const SavePiece& p : r.pieces) {
      const int k = count[p.tensor]++;
      std::string key = k == 0 ? p.tensor : fmt::format("{}#{}", p.tensor, k);
      const std::int64_t rows = p.region.row_count();
      decls.push_back({key, io::StDType::F32,
                       p.region.cols == 1 && (p.shape.size() == 1) ? std::vector<std::int64_t>{rows}
                                                                    : std::vector<std::int64_t>{rows, p.region.cols}});
      nlohmann::json pj = region_to_json(p.region);
      pj["tensor"] = p.tensor;
      pj["shape"] = p.shape;
      pj["key"] = key;
      job.pieces.push_back(std::move(pj));
      by_key[key] = &p;
    }
    std::uint32_t crc = 0;
    io::SafetensorsStreamWriter writer(partial_dir(r.save_dir, r.iteration) / name,
                                       std::move(decls), {{"format", kFormatName}},
                                       [&crc](const void* d, std::size_t n) { crc = crc32c_update(crc, d, n); });
    hook("file_opened");
    for (const io::TensorDecl& d : writer.order()) {
      const SavePiece* p = by_key.at(d.name);
      writer.write(p->data, static_cast<std::size_t>(p->region.numel()) * sizeof(float));
      hook("piece_written");
    }
    const std::uint64_t bytes = writer.bytes_written();
    writer.commit();
    job.file = StoredFile{name, bytes, crc};
  });
}

SaveResult CheckpointSaver::finalize(Job& job) {
  const SaveRequest& r = job.request;
  group_.agree(job.error);
  nlohmann::json mine = {{"pieces", job.pieces}, {"rank_state", r.rank_state}};
  if (job.file)
    mine["file"] = {{"name", job.file->name}, {"bytes", job.file->bytes}, {"crc32c", job.file->crc32c}};
  const std::vector<std::string> all = group_.allgather(mine.dump());
  SaveResult result;
  result.dir = iteration_dir(r.save_dir, r.iteration);
  std::string error;
  if (group_.rank() == 0)
    error = capture([&] {
      hook("files_written");
      CheckpointMetadata m;
      m.iteration = r.iteration;
      m.state = r.state;
      nlohmann::json ranks = nlohmann::json::array();
      bool any_rank_state = false;
      for (const std::string& text : all) {
        const nlohmann::json j = nlohmann::json::parse(text);
        ranks.push_back(j["rank_state"]);
        any_rank_state |= !j["rank_state"].is_null();
        if (j.contains("file")) {
          const auto& f = j["file"];
          m.files.push_back({f["name"].get<std::string>(), f["bytes"].get<std::uint64_t>(), f["crc32c"].get<std::uint32_t>()});
        }
        for (const auto& p : j["pieces"]) {
          const std::string tensor = p["tensor"].get<std::string>();
          StoredTensor& t = m.tensors[tensor];
          const auto shape = p["shape"].get<std::vector<std::int64_t>>();
          if (t.pieces.empty()) t.shape = shape;
          else if (t.shape != shape) fail("internal: ranks disagree on the shape of '{}'", tensor);
          t.pieces.push_back({j["file"]["name"].get<std::string>(), p["key"].get<std::string>(),
                              region_from_json(p, tensor)});
        }
      }
      if (any_rank_state) m.state["ranks"] = std::move(ranks);
      for (const auto& [name, t] : m.tensors) {
        std::vector<Region> regions;
        for (const StoredPiece& p : t.pieces) regions.push_back(p.region);
        const std::string problem = check_partition(regions, t.rows(), t.cols());
        if (!problem.empty()) fail("internal: checkpoint tensor '{}': {}", name, problem);
      }
      result = publish_checkpoint(r.save_dir, r.iteration, m, r.retention);
    });
  group_.agree(error);
  return result;
}

SaveResult CheckpointSaver::save(const SaveRequest& request) {
  if (job_) finish(/*wait=*/true);
  prepare(request);
  Job job;
  job.request = request;
  job.error = write_rank_file(job);
  return finalize(job);
}

void CheckpointSaver::save_async(const SaveRequest& request) {
  if (job_) finish(/*wait=*/true);
  prepare(request);
  job_ = std::make_unique<Job>();
  Job& job = *job_;
  job.request = request;
  // Snapshot: training changes the parameters while the thread writes.
  std::size_t total = 0;
  for (const SavePiece& p : request.pieces) total += static_cast<std::size_t>(p.region.numel());
  if (staging_.size() < total) staging_.resize(total);
  std::size_t at = 0;
  for (SavePiece& p : job.request.pieces) {
    const auto n = static_cast<std::size_t>(p.region.numel());
    std::memcpy(staging_.data() + at, p.data, n * sizeof(float));
    p.data = staging_.data() + at;
    at += n;
  }
  job.thread = std::thread([this, &job] {
    job.error = write_rank_file(job);
    job.done.store(true, std::memory_order_release);
  });
}

std::optional<SaveResult> CheckpointSaver::finish(bool wait) {
  if (!job_) return std::nullopt;
  if (!wait && !group_.all(job_->done.load(std::memory_order_acquire))) return std::nullopt;
  if (job_->thread.joinable()) job_->thread.join();
  std::unique_ptr<Job> job = std::move(job_);
  return finalize(*job);
}

std::vector<std::int64_t> apply_retention(const fs::path& save, std::int64_t newest, std::optional<std::int64_t> previous,
                                          const RetentionPolicy& policy) {
  std::vector<std::int64_t> doomed;
  auto retained = [&](std::int64_t it) { return policy.retain_interval && *policy.retain_interval > 0 && it % *policy.retain_interval == 0; };
  // A checkpoint survives when it is among the newest keep_last or a multiple of
  // save_retain_interval; each policy deletes only what neither protects.
  std::vector<std::int64_t> older;
  for (std::int64_t it : complete_iterations(save))
    if (it < newest) older.push_back(it);
  const std::int64_t keep_older = policy.keep_last > 0 ? policy.keep_last - 1 : 0;  // the newest counts as one
  auto recent = [&](std::int64_t it) {
    const auto pos = std::find(older.begin(), older.end(), it);
    return policy.keep_last > 0 && pos != older.end() && older.end() - pos <= keep_older;
  };
  // Megatron's save_retain_interval: the previous checkpoint goes unless it is a retained one.
  if (policy.retain_interval && previous && *previous > 0 && *previous != newest && !retained(*previous) &&
      !recent(*previous))
    doomed.push_back(*previous);
  if (policy.keep_last > 0)
    for (std::int64_t it : older)
      if (!recent(it) && !retained(it)) doomed.push_back(it);
  std::sort(doomed.begin(), doomed.end());
  doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
  std::vector<std::int64_t> deleted;
  for (std::int64_t it : doomed) {
    const fs::path dir = iteration_dir(save, it);
    std::error_code ec;
    if (!fs::exists(dir, ec) || fs::is_symlink(dir, ec)) continue;  // Megatron leaves symbolic links alone
    const fs::path gone = save / fmt::format(".{}.deleting", iteration_dir_name(it));
    fs::remove_all(gone, ec);
    if (std::rename(dir.c_str(), gone.c_str()) != 0) continue;
    fs::remove_all(gone, ec);
    deleted.push_back(it);
  }
  if (!deleted.empty()) sync_folder(save);
  return deleted;
}

}  // namespace primus::checkpoint
