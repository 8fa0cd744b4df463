// Fuzz inputs as files: the readers under test open paths (that is how users hand them data), so
// each input is written to a private scratch folder (in /dev/shm when there is one: no disk
// traffic at tens of thousands of runs per second). Every target catches primus::Error — a clean
// refusal is the expected outcome for garbage — and lets anything else (a crash, a sanitizer
// report, an uncaught exception, a hang) surface as a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace primus::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    auto d = base / ("primus_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_input(const std::string& name, const void* data, std::size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Splits an input at the first occurrence of `separator` (for targets that need two files).
inline std::pair<std::string_view, std::string_view> split_input(const std::uint8_t* data, std::size_t size,
                                                                  std::string_view separator) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto at = all.find(separator);
  if (at == std::string_view::npos) return {all, {}};
  return {all.substr(0, at), all.substr(at + separator.size())};
}

}  // namespace primus::fuzz
