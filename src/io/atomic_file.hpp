// The one way this project writes a file a user or another run will read (datasets, index caches,
// checkpoints, experiments, presets): it appears whole or not at all.
//
// Bytes go to a temporary file in the target's folder, named ".<target name>.<unique suffix>"
// by mkstemp — unique per writer, so several ranks or runs writing the same cache never share
// one — and are renamed over the target only by commit(). An AtomicFile destroyed without
// commit() (an error, an exception unwinding) removes its temporary file, so a failed run leaves
// nothing that looks like output. `durable` files are fsync'ed before the rename and the folder
// after it (what a crash must not lose); scratch files skip both.
//
// Temporary files are also removed when the process is stopped by SIGINT, SIGTERM or SIGHUP
// once install_temporary_file_cleanup() has run (the `primus` binary does it at start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace primus::io {

class AtomicFile {
 public:
  // Creates the temporary file; throws primus::Error naming the target when the folder is missing
  // or not writable.
  explicit AtomicFile(std::filesystem::path target, bool durable = true);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes (buffered). Throws primus::Error naming the target on a failed write (disk full).
  void write(const void* data, std::size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }

  // Flushes, syncs (durable), closes and renames the temporary file over the target.
  void commit();
  // Removes the temporary file now (also what the destructor does without commit()).
  void discard() noexcept;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temporary_path() const { return temp_; }
  std::uint64_t bytes_written() const { return written_ + buffer_.size(); }
  bool committed() const { return committed_; }

 private:
  void flush();

  std::filesystem::path target_, temp_;
  bool durable_;
  int fd_ = -1;
  int registry_slot_ = -1;
  bool committed_ = false;
  std::vector<char> buffer_;
  std::uint64_t written_ = 0;
};

// Writes `text` to `path` through an AtomicFile.
void write_file_atomically(const std::filesystem::path& path, std::string_view text, bool durable = true);

// Installs SIGINT/SIGTERM/SIGHUP handlers that remove every live AtomicFile's temporary file and
// then let the signal take its default course (the process ends as it would have). Idempotent.
void install_temporary_file_cleanup();

}  // namespace primus::io
