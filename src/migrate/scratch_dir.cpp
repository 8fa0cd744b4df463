#include "migrate/scratch_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

ScratchDir::ScratchDir(const std::string& prefix) {
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  // mkdtemp replaces the six trailing 'X' characters with a unique suffix.
  std::string tmpl = (base / (prefix + "." + std::string(6, 'X'))).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    fail("cannot create a scratch folder in {}: {}", base.string(), std::strerror(errno));
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  if (keep_) return;
  std::error_code ec;
  // remove_all removes symbolic links themselves, never what they point to.
  fs::remove_all(path_, ec);
}

}  // namespace primus::migrate
