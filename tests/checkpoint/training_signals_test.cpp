// The real `primus train` process, stopped from outside while it trains and saves:
//   * SIGTERM with exit_signal_handler (what Slurm sends before a job's time runs out): the run
//     finishes its iteration, saves, says why it stopped and exits 0; the checkpoint it names is
//     the tracker's and loads;
//   * kill -9 at several moments while it saves every iteration (synchronously and with
//     async_save): whatever the tracker names afterwards is complete — every checksum holds — and
//     a new run continues from it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/checkpoint_reader.hpp"

namespace fs = std::filesystem;
using namespace primus;

namespace {

// A child `primus` whose stdout and stderr come through a pipe, read line by line.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      static std::string binary = PRIMUS_BINARY;
      argv.push_back(binary.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::setenv("OMP_NUM_THREADS", "1", 1);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_) std::fclose(out_);
  }
  // Reads until a line contains `text` (true) or the output ends (false).
  bool wait_for(const std::string& text) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, out_)) {
      output_ += buf;
      if (std::string(buf).find(text) != std::string::npos) return true;
    }
    return false;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  // Reads the rest of the output; the exit status (or 128 + signal).
  int wait() {
    char buf[4096];
    while (out_ && std::fgets(buf, sizeof buf, out_)) output_ += buf;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  FILE* out_ = nullptr;
  std::string output_;
};

class TrainingSignals : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("primus_signals_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "exp.yaml") << "model: tiny_llama.yaml\n"
                                        "overrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                        "  seq_length: 32\n  max_position_embeddings: 64\n"
                                        "  micro_batch_size: 2\n  global_batch_size: 4\n  train_iters: 100000\n"
                                        "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                                        "  eval_iters: 0\n  log_interval: 1\n"
                                        "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                        "  mock_data: true\n  bf16: false\n  finetune: false\n  workspace: " +
                                            (dir_ / "runs").string() + "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> train(std::vector<std::string> extra) const {
    std::vector<std::string> a = {"train", "pretrain", "--config", (dir_ / "exp.yaml").string(), "--save",
                                  (dir_ / "ckpt").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // The tracker's checkpoint is complete: present, every file's checksum holds.
  void expect_tracked_checkpoint_complete(const std::string& context) {
    const auto it = checkpoint::read_tracker(dir_ / "ckpt");
    ASSERT_TRUE(it.has_value()) << context;
    const auto d = checkpoint::resolve_checkpoint_dir(dir_ / "ckpt");
    ASSERT_TRUE(d.has_value()) << context;
    checkpoint::CheckpointReader reader(*d);
    EXPECT_EQ(reader.iteration(), *it) << context;
    EXPECT_EQ(reader.verify(), "") << context;
  }

  fs::path dir_;
};

TEST_F(TrainingSignals, SigtermSavesAndExitsCleanly) {
  Child run(train({"--save-interval", "1000000", "--exit-signal-handler"}));
  ASSERT_TRUE(run.wait_for("iteration        3")) << run.output();
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(), 0) << run.output();
  const auto at = checkpoint::read_tracker(dir_ / "ckpt");
  ASSERT_TRUE(at.has_value()) << run.output();
  EXPECT_GE(*at, 3);
  EXPECT_NE(run.output().find("exiting at iteration " + std::to_string(*at) + ": received SIGTERM"), std::string::npos)
      << run.output();
  expect_tracked_checkpoint_complete("after SIGTERM");
  // The final save is the signal's: nothing after it.
  EXPECT_EQ(checkpoint::complete_iterations(dir_ / "ckpt"), (std::vector<std::int64_t>{*at}));
}

TEST_F(TrainingSignals, KillNineWhileSavingLeavesALoadableCheckpoint) {
  // Delays after the first completed save: inside the next saves at different points.
  const int delays_us[] = {0, 700, 2500, 6000};
  int round = 0;
  for (const bool async : {false, true})
    for (const int delay : delays_us) {
      const std::string context = std::string(async ? "async" : "sync") + " save, kill after " +
                                  std::to_string(delay) + " us (round " + std::to_string(++round) + ")";
      std::vector<std::string> extra = {"--save-interval", "1"};
      if (async) extra.push_back("--async-save");
      Child run(train(extra));
      ASSERT_TRUE(run.wait_for(async ? "checkpoint at iteration 1 complete" : "saved checkpoint at iteration 1"))
          << context << "\n"
          << run.output();
      std::this_thread::sleep_for(std::chrono::microseconds(delay));
      run.signal(SIGKILL);
      EXPECT_EQ(run.wait(), 128 + SIGKILL) << context;
      expect_tracked_checkpoint_complete(context);
    }
  // A new run continues from what the last kill left, and its next saves clean up the debris.
  const auto at = checkpoint::read_tracker(dir_ / "ckpt");
  ASSERT_TRUE(at.has_value());
  Child cont(train({"--load", (dir_ / "ckpt").string(), "--save-interval", "1", "--train-iters",
                    std::to_string(*at + 2)}));
  EXPECT_EQ(cont.wait(), 0) << cont.output();
  EXPECT_NE(cont.output().find("loaded checkpoint"), std::string::npos) << cont.output();
  EXPECT_EQ(checkpoint::read_tracker(dir_ / "ckpt"), *at + 2);
  expect_tracked_checkpoint_complete("after the continued run");
  for (const auto& e : fs::directory_iterator(dir_ / "ckpt")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.starts_with("iter_") || name == checkpoint::kTrackerFile)
        << "left behind: " << e.path() << " (a new save removes what killed ones left)";
  }
}

}  // namespace
