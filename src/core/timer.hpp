// Monotonic wall-clock timing (std::chrono::steady_clock): never jumps with NTP/clock changes,
// which is what iteration-time logging needs.
#pragma once

#include <chrono>

namespace primus {

// Seconds since an arbitrary fixed point; only differences are meaningful.
inline double monotonic_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Timer t; ...; t.seconds() — elapsed since construction or the last reset().
class Timer {
 public:
  Timer() : start_(monotonic_seconds()) {}
  void reset() { start_ = monotonic_seconds(); }
  double seconds() const { return monotonic_seconds() - start_; }
  double millis() const { return seconds() * 1e3; }

 private:
  double start_;
};

}  // namespace primus
