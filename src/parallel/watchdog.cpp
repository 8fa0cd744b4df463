#include "parallel/watchdog.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace primus::parallel {

Watchdog::Watchdog(double timeout_seconds, Action on_timeout)
    : timeout_(timeout_seconds), on_timeout_(std::move(on_timeout)) {
  if (!(timeout_seconds > 0)) fail("internal: watchdog timeout {} s", timeout_seconds);
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void Watchdog::set_timeout(double seconds, std::string setting) {
  if (!(seconds > 0)) fail("{}: the collective timeout must be positive (got {} s)", setting, seconds);
  std::lock_guard<std::mutex> lock(mutex_);
  timeout_ = seconds;
  setting_ = std::move(setting);
  stop_cv_.notify_all();  // a shorter timeout shortens the poll interval now
}

double Watchdog::timeout() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timeout_;
}

void Watchdog::arm(const char* op, const std::string* group, std::int64_t detail) {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
  armed_at_ = monotonic_seconds();
  op_ = op;
  group_ = group;
  detail_ = detail;
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    const double poll = std::clamp(timeout_ / 20.0, 0.02, 1.0);
    stop_cv_.wait_for(lock, std::chrono::duration<double>(poll));
    if (stop_ || !armed_) continue;
    const double waited = monotonic_seconds() - armed_at_;
    if (waited <= timeout_) continue;
    std::string what = op_ ? op_ : "communication";
    if (group_) what += fmt::format(" on the {} group", *group_);
    if (detail_ >= 0) what += fmt::format(" (bucket {})", detail_);
    const std::string message = fmt::format(
        "{} did not complete within {:g} s ({}): another rank stopped answering or failed; aborting the run", what,
        timeout_, setting_);
    armed_ = false;
    lock.unlock();
    on_timeout_(message);
    lock.lock();
  }
}

}  // namespace primus::parallel
