// The one exception type users see: its message is a complete, one-line explanation
// (which file, key or value is wrong and what to do). main() prints it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace primus {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A run stopped by a signal (Ctrl-C, kill) after cleaning up: the message says what was stopped;
// main() exits with 128 + the signal's number, as a shell reports a process the signal ended.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// fail("{}: key '{}' ...", file, key) — format and throw a primus::Error.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace primus
