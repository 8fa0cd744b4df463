// A private temporary folder for one migration (the sandbox's fake tools, the script's working
// copy, trial experiment files). Removed with everything in it when the migration ends, unless
// the user asked to keep it for inspection.
#pragma once

#include <filesystem>
#include <string>

namespace primus::migrate {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "primus-migrate");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace primus::migrate
