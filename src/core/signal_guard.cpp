#include "core/signal_guard.hpp"

#include <signal.h>

#include <atomic>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus {

namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

std::atomic<int> g_signal{0};
std::atomic<pid_t> g_sender{0};

extern "C" void record_signal(int sig, siginfo_t* info, void*) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) g_sender.store(info != nullptr ? info->si_pid : 0);
}

}  // namespace

struct SignalGuard::Saved {
  struct sigaction old[3];
  bool replaced[3] = {false, false, false};
};

std::string ReceivedSignal::name() const {
  switch (number) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return fmt::format("signal {}", number);
  }
}

SignalGuard::SignalGuard() : saved_(new Saved{}) {
  struct sigaction sa {};
  sa.sa_sigaction = record_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) {
    // A signal the user chose to ignore (nohup, a background job's SIGINT) stays ignored.
    if (::sigaction(kSignals[i], nullptr, &saved_->old[i]) != 0 || saved_->old[i].sa_handler == SIG_IGN) continue;
    saved_->replaced[i] = ::sigaction(kSignals[i], &sa, nullptr) == 0;
  }
}

SignalGuard::~SignalGuard() {
  for (int i = 0; i < 3; ++i)
    if (saved_->replaced[i]) ::sigaction(kSignals[i], &saved_->old[i], nullptr);
  delete saved_;
}

std::optional<ReceivedSignal> SignalGuard::pending() {
  const int sig = g_signal.load();
  if (sig == 0) return std::nullopt;
  return ReceivedSignal{sig, g_sender.load()};
}

std::optional<ReceivedSignal> SignalGuard::take() {
  auto s = pending();
  if (s) {
    g_sender.store(0);
    g_signal.store(0);
  }
  return s;
}

void SignalGuard::throw_if_pending(const std::string& what) {
  if (auto s = take()) throw Interrupted(fmt::format("{} stopped by {}", what, s->name()), s->number);
}

}  // namespace primus
