// Ctrl-C (SIGINT), SIGTERM and SIGHUP turned into something a long operation can check: while a
// SignalGuard lives, those signals are recorded (with the process that sent them) instead of
// ending the process, so that the operation can stop what it started, clean up, and report.
// Guards nest; the innermost one's destructor restores what was installed before it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace primus {

struct ReceivedSignal {
  int number = 0;       // SIGINT, SIGTERM, SIGHUP
  pid_t sender = 0;     // the process that sent it (0: the kernel or unknown)
  std::string name() const;  // "SIGINT"
};

class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // The first signal received since any guard was installed and not yet taken.
  static std::optional<ReceivedSignal> pending();
  // pending(), then forgets it.
  static std::optional<ReceivedSignal> take();
  // Throws primus::Interrupted "<what> stopped by SIGINT ..." when a signal is pending.
  static void throw_if_pending(const std::string& what);

 private:
  struct Saved;
  Saved* saved_;
};

}  // namespace primus
