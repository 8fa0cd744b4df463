#include "core/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus {

namespace {

std::string shown(const std::filesystem::path& path) { return printable(path.string(), 1000); }

}  // namespace

std::string describe_file_error(const std::filesystem::path& path, int error, std::string_view what) {
  switch (error) {
    case ENOENT: return fmt::format("{}: {} not found", shown(path), what);
    case ENOTDIR: return fmt::format("{}: {} not found (a part of the path is not a folder)", shown(path), what);
    case EISDIR: return fmt::format("{}: is a folder; the {} must be a file", shown(path), what);
    case ELOOP: return fmt::format("{}: loop of symbolic links; cannot reach the {}", shown(path), what);
    case EACCES:
    case EPERM: return fmt::format("{}: cannot read the {}: permission denied", shown(path), what);
    case ENAMETOOLONG: return fmt::format("{}: the path is too long", shown(path));
    default: return fmt::format("{}: cannot read the {}: {}", shown(path), what, std::strerror(error));
  }
}

void check_input_file(const std::filesystem::path& path, std::string_view what, InputKind kind) {
  if (path.empty()) fail("no {} given (the path is empty)", what);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(describe_file_error(path, errno, what));
  if (S_ISDIR(st.st_mode)) fail("{}: is a folder; the {} must be a file", shown(path), what);
  if (S_ISFIFO(st.st_mode)) {
    if (kind == InputKind::kFileOrPipe) return;
    fail("{}: is a pipe; the {} must be a regular file", shown(path), what);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) fail("{}: is a device; the {} must be a regular file", shown(path), what);
  if (S_ISSOCK(st.st_mode)) fail("{}: is a socket; the {} must be a regular file", shown(path), what);
  if (!S_ISREG(st.st_mode)) fail("{}: the {} must be a regular file", shown(path), what);
  if (::access(path.c_str(), R_OK) != 0) throw Error(describe_file_error(path, errno, what));
}

std::string read_input_file(const std::filesystem::path& path, std::string_view what, std::uint64_t max_bytes) {
  check_input_file(path, what);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(describe_file_error(path, errno, what));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(describe_file_error(path, errno, what));
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    fail("{}: is {}, over the {} limit for the {} (is this the right file?)", shown(path), format_bytes(st.st_size),
         format_bytes(max_bytes), what);
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(describe_file_error(path, errno, what));
    if (n == 0) break;
    // The file may grow while it is read (a log being written): the limit still holds.
    if (text.size() + static_cast<std::size_t>(n) > max_bytes)
      fail("{}: is larger than the {} limit for the {}", shown(path), format_bytes(max_bytes), what);
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

std::string format_bytes(std::uint64_t bytes) {
  constexpr double kKiB = 1024.0, kMiB = kKiB * 1024, kGiB = kMiB * 1024, kTiB = kGiB * 1024;
  const auto b = static_cast<double>(bytes);
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  if (b < kMiB) return fmt::format("{:.1f} KiB", b / kKiB);
  if (b < kGiB) return fmt::format("{:.1f} MiB", b / kMiB);
  if (b < kTiB) return fmt::format("{:.2f} GiB", b / kGiB);
  return fmt::format("{:.2f} TiB", b / kTiB);
}

}  // namespace primus
