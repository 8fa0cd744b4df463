// The collective timeout (Megatron's distributed_timeout_minutes, then
// distributed_timeout_seconds_after_init once the first iteration is done): every blocking
// communication arms the watchdog for its duration; a background thread that finds one armed for
// longer than the timeout reports which operation on which group hung and runs the timeout action
// (by default: print the message and abort every rank through MPI), so that a peer that stopped
// answering ends the run with a message instead of hanging it.
//
// Arming costs two uncontended mutex operations and allocates nothing: the operation and group are
// kept as static strings plus a number, and only formatted when the timeout fires. The thread
// polls at a fraction of the timeout (between 20 ms and 1 s), so detection is late by at most that.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace primus::parallel {

class Watchdog {
 public:
  // Receives the full message; must not return normally to the waiting code (abort or exit).
  using Action = std::function<void(const std::string& message)>;

  Watchdog(double timeout_seconds, Action on_timeout);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_timeout(double seconds, std::string setting);
  double timeout() const;

  // What is being waited for: e.g. ("allreduce", "dp", bucket 3). `op` and `group` must outlive the
  // wait (string literals or a communicator's name).
  void arm(const char* op, const std::string* group, std::int64_t detail = -1);
  void disarm();

  // RAII arm/disarm; a null watchdog makes it a no-op.
  class Scope {
   public:
    Scope(Watchdog* w, const char* op, const std::string* group, std::int64_t detail = -1) : w_(w) {
      if (w_) w_->arm(op, group, detail);
    }
    ~Scope() {
      if (w_) w_->disarm();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog* w_;
  };

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  double timeout_;
  std::string setting_ = "distributed_timeout_minutes";
  Action on_timeout_;
  bool stop_ = false;
  bool armed_ = false;
  double armed_at_ = 0.0;
  const char* op_ = nullptr;
  const std::string* group_ = nullptr;
  std::int64_t detail_ = -1;
  std::thread thread_;
};

}  // namespace primus::parallel
