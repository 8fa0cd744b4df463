#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace primus::io {

namespace {

constexpr std::size_t kBufferBytes = 1 << 20;

// Live temporary files, readable from a signal handler: fixed slots, a path written before its
// flag is raised. More live files than slots are simply not cleaned up on a signal.
struct TempSlot {
  std::atomic<bool> used{false};
  char path[PATH_MAX];
};
constexpr int kSlots = 64;
TempSlot g_slots[kSlots];

int register_temp(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    // Claim with a CAS so that two threads never take one slot; the path is published after.
    if (!g_slots[i].used.load(std::memory_order_relaxed) &&
        g_slots[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      g_slots[i].path[0] = '\0';
      std::atomic_signal_fence(std::memory_order_seq_cst);
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      return i;
    }
  }
  return -1;
}

void unregister_temp(int slot) {
  if (slot < 0) return;
  g_slots[slot].path[0] = '\0';
  g_slots[slot].used.store(false, std::memory_order_release);
}

extern "C" void remove_temporaries_and_reraise(int sig) {
  const int saved = errno;
  for (auto& slot : g_slots)
    if (slot.used.load(std::memory_order_acquire) && slot.path[0] != '\0') ::unlink(slot.path);
  errno = saved;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Writes all of [data, data + size); returns 0 or errno.
int write_all(int fd, const char* p, std::size_t size) {
  while (size > 0) {
    const std::size_t chunk = std::min<std::size_t>(size, std::size_t{1} << 30);  // Linux caps one write near 2 GiB
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

AtomicFile::AtomicFile(fs::path target, bool durable) : target_(std::move(target)), durable_(durable) {
  if (target_.filename().empty()) fail("{}: not a file name (it names a folder)", target_.string());
  const fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  std::error_code ec;
  if (fs::is_directory(target_, ec)) fail("{}: is a folder; give a file name", target_.string());
  // mkstemp replaces the six trailing 'X' characters with a unique suffix.
  std::string tmpl = (dir / fmt::format(".{}.{}", target_.filename().string(), std::string(6, 'X'))).string();
  fd_ = ::mkstemp(tmpl.data());
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      fail("{}: cannot write: the folder {} does not exist", target_.string(), dir.string());
    fail("{}: cannot create a file in {}: {}", target_.string(), dir.string(), std::strerror(err));
  }
  temp_ = tmpl;
  registry_slot_ = register_temp(tmpl);
  buffer_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::flush() {
  if (buffer_.empty()) return;
  const int err = write_all(fd_, buffer_.data(), buffer_.size());
  if (err != 0) fail("{}: write failed: {}", target_.string(), std::strerror(err));
  written_ += buffer_.size();
  buffer_.clear();
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  if (fd_ < 0) fail("{}: written after commit", target_.string());
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + bytes <= kBufferBytes) {
    buffer_.insert(buffer_.end(), p, p + bytes);
    return;
  }
  flush();
  if (bytes >= kBufferBytes) {
    const int err = write_all(fd_, p, bytes);
    if (err != 0) fail("{}: write failed: {}", target_.string(), std::strerror(err));
    written_ += bytes;
  } else {
    buffer_.insert(buffer_.end(), p, p + bytes);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (fd_ < 0) fail("{}: the file was discarded", target_.string());
  try {
    flush();
  } catch (...) {
    discard();
    throw;
  }
  // mkstemp creates 0600; what we write is an ordinary file.
  ::fchmod(fd_, 0644);
  int err = durable_ && ::fsync(fd_) != 0 ? errno : 0;
  if (::close(fd_) != 0 && err == 0) err = errno;
  fd_ = -1;
  if (err != 0) {
    discard();
    fail("{}: write failed: {}", target_.string(), std::strerror(err));
  }
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    err = errno;
    discard();
    if (err == EISDIR) fail("{}: is a folder; give a file name", target_.string());
    fail("{}: cannot rename the written file into place: {}", target_.string(), std::strerror(err));
  }
  committed_ = true;
  unregister_temp(registry_slot_);
  registry_slot_ = -1;
  if (durable_) {
    // The rename itself must survive a crash too.
    const fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty() && !committed_) ::unlink(temp_.c_str());
  unregister_temp(registry_slot_);
  registry_slot_ = -1;
  buffer_.clear();
}

void write_file_atomically(const fs::path& path, std::string_view text, bool durable) {
  AtomicFile file(path, durable);
  file.write(text);
  file.commit();
}

void install_temporary_file_cleanup() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_handler = remove_temporaries_and_reraise;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // A signal the parent ignores (nohup, a background job's SIGINT) stays ignored.
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace primus::io
