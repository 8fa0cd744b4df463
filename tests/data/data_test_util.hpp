// Helpers shared by the data tests: fixture paths, scratch folders, whole-file reads, running the
// numpy reference scripts.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace primus::data::testing {

inline std::string fixture(const std::string& name) {
  return std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/data/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh folder under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("primus_data_" + tag + "_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// True when /usr/bin/python3 can import numpy (the reference scripts need it).
inline bool have_numpy() {
  static const bool ok =
      std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0;
  return ok;
}

inline int run(const std::string& command) { return std::system(command.c_str()); }

}  // namespace primus::data::testing
