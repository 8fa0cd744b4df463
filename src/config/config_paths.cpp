#include "config/config_paths.hpp"

#include <cstdlib>
#include <sstream>

namespace fs = std::filesystem;

namespace primus::config {

namespace {

bool has_configs(const fs::path& root) { return fs::is_directory(root / "primus" / "configs" / "models" / "megatron"); }

}  // namespace

fs::path primus_home() {
  static const fs::path home = [] {
    if (const char* env = std::getenv("PRIMUS_HOME"); env && *env) return fs::path(env);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
      for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
        if (has_configs(p)) return p;
    return fs::path(PRIMUS_DEFAULT_HOME);
  }();
  return home;
}

std::string display_path(const fs::path& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec).lexically_normal();
  fs::path home = fs::absolute(primus_home(), ec).lexically_normal();
  fs::path rel = abs.lexically_relative(home);
  if (!rel.empty() && *rel.begin() == "primus") return rel.string();
  return path.string();
}

fs::path builtin_models_dir() { return primus_home() / "primus" / "configs" / "models" / "megatron"; }
fs::path builtin_modules_dir() { return primus_home() / "primus" / "configs" / "modules" / "megatron"; }

std::vector<fs::path> search_dirs(const fs::path& referrer_dir, const fs::path& builtin_dir) {
  std::vector<fs::path> dirs{referrer_dir.empty() ? fs::path(".") : referrer_dir, builtin_dir};
  if (const char* env = std::getenv("PRIMUS_CONFIG_PATH"); env && *env) {
    std::stringstream in(env);
    std::string dir;
    while (std::getline(in, dir, ':'))
      if (!dir.empty()) dirs.emplace_back(dir);
  }
  return dirs;
}

namespace {

// Present in any form: a folder, a device or a symbolic-link loop of that name is found too, so
// that reading it says what it is rather than "not found".
bool present(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec;
}

}  // namespace

std::optional<fs::path> find_config_file(const std::string& name, const std::vector<fs::path>& dirs) {
  fs::path p(name);
  if (p.is_absolute()) return present(p) ? std::optional<fs::path>(p) : std::nullopt;
  for (const auto& d : dirs)
    if (present(d / p)) return (d / p).lexically_normal();
  return std::nullopt;
}

std::vector<std::string> yaml_names_in(const std::vector<fs::path>& dirs) {
  std::vector<std::string> names;
  for (const auto& d : dirs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".yaml") names.push_back(e.path().filename().string());
  }
  return names;
}

}  // namespace primus::config
