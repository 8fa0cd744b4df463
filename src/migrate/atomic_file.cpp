#include "migrate/atomic_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>

#include <fmt/format.h>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

void write_file_atomically(const fs::path& path, const std::string& text, bool durable) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  // mkstemp replaces the six trailing 'X' characters with a unique suffix.
  std::string tmpl = (dir / fmt::format(".{}.{}", path.filename().string(), std::string(6, 'X'))).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) fail("{}: cannot create a temporary file in {}: {}", path.string(), dir.string(), std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      fail("{}: write failed: {}", path.string(), std::strerror(err));
    }
    done += size_t(n);
  }
  // mkstemp creates 0600; a written config is an ordinary file.
  ::fchmod(fd, 0644);
  int synced = durable ? ::fsync(fd) : 0;
  int sync_err = errno;
  int closed = ::close(fd);
  if (synced != 0 || closed != 0) {
    int err = synced != 0 ? sync_err : errno;
    ::unlink(tmpl.c_str());
    fail("{}: write failed: {}", path.string(), std::strerror(err));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    fail("{}: cannot rename the written file into place: {}", path.string(), std::strerror(err));
  }
}

}  // namespace primus::migrate
