// The collective watchdog: fires with the operation, group and setting once a wait outlives the
// timeout, and stays quiet for waits that finish in time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "parallel/watchdog.hpp"

using namespace primus::parallel;

namespace {

TEST(Watchdog, FiresWhenAWaitOutlivesTheTimeout) {
  std::mutex m;
  std::string message;
  std::atomic<int> fired{0};
  Watchdog w(0.2, [&](const std::string& text) {
    std::lock_guard<std::mutex> lock(m);
    message = text;
    ++fired;
  });
  const std::string group = "dp";
  {
    Watchdog::Scope s(&w, "all-gather", &group, 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
  ASSERT_EQ(fired.load(), 1);
  std::lock_guard<std::mutex> lock(m);
  EXPECT_NE(message.find("all-gather on the dp group (bucket 3) did not complete within 0.2 s"), std::string::npos)
      << message;
  EXPECT_NE(message.find("distributed_timeout_minutes"), std::string::npos) << message;
}

TEST(Watchdog, QuietWhenWaitsFinishInTime) {
  std::atomic<int> fired{0};
  Watchdog w(0.5, [&](const std::string&) { ++fired; });
  const std::string group = "world";
  for (int i = 0; i < 20; ++i) {
    Watchdog::Scope s(&w, "allreduce", &group);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // nothing armed: nothing fires
  EXPECT_EQ(fired.load(), 0);
}

TEST(Watchdog, TimeoutCanShrinkAfterInit) {
  std::atomic<int> fired{0};
  std::string message;
  Watchdog w(600.0, [&](const std::string& text) {
    message = text;
    ++fired;
  });
  w.set_timeout(0.1, "distributed_timeout_seconds_after_init");
  EXPECT_DOUBLE_EQ(w.timeout(), 0.1);
  {
    Watchdog::Scope s(&w, "barrier", nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  EXPECT_EQ(fired.load(), 1);
  EXPECT_NE(message.find("distributed_timeout_seconds_after_init"), std::string::npos) << message;
}

}  // namespace
