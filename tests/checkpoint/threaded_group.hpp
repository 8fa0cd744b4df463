// N "ranks" as threads of one test process, with the CheckpointGroup collectives done through
// shared memory: the multi-rank save and load logic is tested without mpirun.
#pragma once

#include <barrier>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/checkpoint_group.hpp"

namespace primus::test {

class ThreadedWorld {
 public:
  explicit ThreadedWorld(int size) : size_(size), slots_(static_cast<size_t>(size)), barrier_(size) {}

  class Rank final : public checkpoint::CheckpointGroup {
   public:
    Rank(ThreadedWorld& w, int r) : w_(w), r_(r) {}
    int rank() const override { return r_; }
    int size() const override { return w_.size_; }
    std::vector<std::string> allgather(const std::string& text) override {
      w_.slots_[static_cast<size_t>(r_)] = text;
      w_.barrier_.arrive_and_wait();
      std::vector<std::string> out = w_.slots_;
      w_.barrier_.arrive_and_wait();
      return out;
    }

   private:
    ThreadedWorld& w_;
    int r_;
  };

  // Runs body(group) on every rank; rethrows the first exception any rank threw.
  void run(const std::function<void(checkpoint::CheckpointGroup&)>& body) {
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r)
      threads.emplace_back([&, r] {
        Rank group(*this, r);
        try {
          body(group);
        } catch (...) {
          errors[static_cast<size_t>(r)] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

 private:
  int size_;
  std::vector<std::string> slots_;
  std::barrier<> barrier_;
};

}  // namespace primus::test
