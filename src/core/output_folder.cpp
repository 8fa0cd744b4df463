#include "core/output_folder.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace fs = std::filesystem;

namespace primus {

void prepare_output_folder(const fs::path& dir, std::string_view what) {
  const std::string shown = printable(dir.string(), 1000);
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail("{}: the {} is a file, not a folder", shown, what);
    return;
  }
  if (errno == ELOOP) fail("{}: loop of symbolic links; cannot create the {}", shown, what);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) return;
  // Say which part of the path is in the way.
  for (fs::path p = dir.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
    if (::stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
      fail("{}: cannot create the {}: {} is a file", shown, what, printable(p.string(), 1000));
  fail("{}: cannot create the {}: {}", shown, what, ec.message());
}

}  // namespace primus
