// Checkpoints in the training loop, one process: 20 iterations straight and 10 + save + load + 10
// give bit-identical losses, gradient norms and parameters (data position, scheduler and
// optimizer restored), through train_step and through run() (save_interval, exit_interval,
// auto_continue_train, async_save, the final save); finetune, no_save_optim / no_load_optim,
// exit_on_missing_checkpoint, ckpt_step and a checkpoint of another model.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/checkpoint_reader.hpp"
#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

using namespace primus;
namespace fs = std::filesystem;

namespace {

class CheckpointResume : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("primus_resume_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "exp.yaml") << "model: tiny_llama.yaml\n"
                                        "overrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                        "  seq_length: 32\n  max_position_embeddings: 64\n"
                                        "  micro_batch_size: 2\n  global_batch_size: 4\n  train_iters: 20\n"
                                        "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n  lr_decay_style: cosine\n"
                                        "  eval_interval: 1000\n  eval_iters: 0\n  log_interval: 5\n"
                                        "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                        "  mock_data: true\n  bf16: false\n"
                                        "  finetune: false\n  exit_on_missing_checkpoint: false\n  workspace: " +
                                            (dir_ / "runs").string() + "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  config::ResolvedConfig resolve(std::vector<std::string> cli = {}) {
    return config::resolve(config::ResolveOptions{dir_ / "exp.yaml", std::move(cli), 1});
  }
  std::vector<std::string> with_save(std::vector<std::string> cli = {}) {
    cli.insert(cli.end(), {"--save", (dir_ / "ckpt").string(), "--save-interval", "1000"});
    return cli;
  }
  std::vector<std::string> with_load(std::vector<std::string> cli = {}) {
    cli.insert(cli.end(), {"--load", (dir_ / "ckpt").string()});
    return cli;
  }

  fs::path dir_;
};

std::vector<float> params_of(train::Trainer& t) {
  t.finish_parameter_sync();
  return {t.model().params(), t.model().params() + t.model().num_params()};
}

struct Trace {
  std::vector<double> losses, norms;
};

Trace steps(train::Trainer& t, int n) {
  Trace tr;
  for (int i = 0; i < n; ++i) {
    const auto r = t.train_step();
    tr.losses.push_back(r.lm_loss);
    tr.norms.push_back(r.grad_norm);
  }
  return tr;
}

void expect_bit_identical(const std::vector<double>& a, const std::vector<double>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << what << " at resumed iteration " << i + 1;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(CheckpointResume, TenPlusTenEqualsTwentyBitForBit) {
  const auto straight_cfg = resolve();
  train::Trainer straight(straight_cfg);
  const Trace first = steps(straight, 10), second = steps(straight, 10);
  const std::vector<float> final_params = params_of(straight);

  const auto save_cfg = resolve(with_save());
  {
    train::Trainer a(save_cfg);
    const Trace t = steps(a, 10);
    expect_bit_identical(t.losses, first.losses, "loss");
    a.save_checkpoint();
  }
  EXPECT_EQ(checkpoint::read_tracker(dir_ / "ckpt"), 10);
  const auto load_cfg = resolve(with_load());
  train::Trainer b(load_cfg);
  ASSERT_TRUE(b.loaded().has_value());
  EXPECT_EQ(b.iteration(), 10);
  EXPECT_EQ(b.consumed_samples(), 40);
  EXPECT_EQ(b.optimizer().steps_taken(), 10);
  const Trace resumed = steps(b, 10);
  expect_bit_identical(resumed.losses, second.losses, "loss");
  expect_bit_identical(resumed.norms, second.norms, "grad norm");
  const std::vector<float> p = params_of(b);
  ASSERT_EQ(p.size(), final_params.size());
  EXPECT_EQ(std::memcmp(p.data(), final_params.data(), p.size() * sizeof(float)), 0) << "parameters differ";
}

TEST_F(CheckpointResume, RunSavesAtIntervalsAndExitAndContinues) {
  const auto straight_cfg = resolve();
  train::Trainer straight(straight_cfg);
  straight.run();
  const std::vector<float> final_params = params_of(straight);

  // save_interval 4 with async_save, exit_interval 10 (saved on the way out), keep everything.
  const auto first_cfg = resolve(
      {"--save", (dir_ / "ckpt").string(), "--save-interval", "4", "--async-save", "--exit-interval", "10"});
  EXPECT_EQ(train::Trainer(first_cfg).run().iterations, 10);
  EXPECT_EQ(checkpoint::complete_iterations(dir_ / "ckpt"), (std::vector<std::int64_t>{4, 8, 10}));
  EXPECT_EQ(checkpoint::read_tracker(dir_ / "ckpt"), 10);

  // auto_continue_train picks up `save`; the run ends at train_iters with a final save.
  const auto cont_cfg =
      resolve({"--save", (dir_ / "ckpt").string(), "--save-interval", "7", "--auto_continue_train=true"});
  train::Trainer cont(cont_cfg);
  ASSERT_TRUE(cont.loaded().has_value());
  EXPECT_EQ(cont.iteration(), 10);
  EXPECT_EQ(cont.run().iterations, 20);
  EXPECT_EQ(checkpoint::complete_iterations(dir_ / "ckpt"), (std::vector<std::int64_t>{4, 8, 10, 14, 20}));
  const std::vector<float> p = params_of(cont);
  EXPECT_EQ(std::memcmp(p.data(), final_params.data(), p.size() * sizeof(float)), 0) << "parameters differ";

  // ckpt_step loads an older one; disable_last_saving skips the final save.
  const auto step_cfg = resolve({"--load", (dir_ / "ckpt").string(), "--ckpt-step", "8", "--train-iters", "9",
                                 "--save", (dir_ / "ckpt2").string(), "--disable_last_saving=true"});
  train::Trainer at8(step_cfg);
  EXPECT_EQ(at8.iteration(), 8);
  at8.run();
  EXPECT_FALSE(fs::exists(dir_ / "ckpt2" / checkpoint::kTrackerFile));
}

TEST_F(CheckpointResume, KeepLastRemovesOlderCheckpoints) {
  const auto cfg = resolve({"--train-iters", "6", "--save", (dir_ / "ckpt").string(), "--save-interval", "2",
                            "--ckpt-keep-last", "2"});
  train::Trainer(cfg).run();
  EXPECT_EQ(checkpoint::complete_iterations(dir_ / "ckpt"), (std::vector<std::int64_t>{4, 6}));
  EXPECT_EQ(checkpoint::read_tracker(dir_ / "ckpt"), 6);
}

TEST_F(CheckpointResume, FinetuneAndOptimizerOptions) {
  {
    const auto cfg = resolve(with_save({"--no-save-optim"}));
    train::Trainer a(cfg);
    steps(a, 3);
    a.save_checkpoint();
  }
  const std::string err = message_of([&] { train::Trainer t(resolve(with_load())); });
  EXPECT_NE(err.find("holds no optimizer state (saved with no_save_optim): load with no_load_optim"), std::string::npos)
      << err;
  const auto no_optim_cfg = resolve(with_load({"--no-load-optim"}));
  train::Trainer no_optim(no_optim_cfg);
  EXPECT_EQ(no_optim.iteration(), 3);
  EXPECT_EQ(no_optim.optimizer().steps_taken(), 0);

  // finetune: the weights only; iteration, data position and optimizer start afresh.
  const auto ft_cfg = resolve(with_load({"--finetune"}));
  train::Trainer ft(ft_cfg);
  ASSERT_TRUE(ft.loaded().has_value());
  EXPECT_TRUE(ft.loaded()->finetune);
  EXPECT_EQ(ft.iteration(), 0);
  EXPECT_EQ(ft.consumed_samples(), 0);
  const std::vector<float> loaded = params_of(ft), saved = params_of(no_optim);
  EXPECT_EQ(std::memcmp(loaded.data(), saved.data(), loaded.size() * sizeof(float)), 0);
}

TEST_F(CheckpointResume, MissingAndForeignCheckpoints) {
  fs::create_directories(dir_ / "empty");
  const auto fresh_cfg = resolve({"--load", (dir_ / "empty").string()});
  train::Trainer fresh(fresh_cfg);
  EXPECT_FALSE(fresh.loaded().has_value());
  EXPECT_EQ(fresh.iteration(), 0);
  std::string err = message_of(
      [&] { train::Trainer t(resolve({"--load", (dir_ / "empty").string(), "--exit-on-missing-checkpoint"})); });
  EXPECT_NE(err.find("no checkpoint in"), std::string::npos) << err;
  EXPECT_NE(err.find("exit_on_missing_checkpoint"), std::string::npos) << err;

  {
    const auto cfg = resolve(with_save());  // the Trainer keeps a reference to its configuration
    train::Trainer a(cfg);
    steps(a, 1);
    a.save_checkpoint();
  }
  err = message_of([&] { train::Trainer t(resolve(with_load({"--ffn-hidden-size", "192"}))); });
  EXPECT_NE(err.find("saved with ffn_hidden_size 128 but the experiment has 192"), std::string::npos) << err;
  err = message_of([&] { train::Trainer t(resolve(with_load({"--seed", "7"}))); });
  EXPECT_NE(err.find("saved with seed 1234 but the experiment has seed 7"), std::string::npos) << err;
  const auto other_seed_cfg = resolve(with_load({"--seed", "7", "--no-load-rng"}));
  train::Trainer other_seed(other_seed_cfg);
  EXPECT_EQ(other_seed.iteration(), 1);
  // A corrupted file is named.
  const fs::path file = dir_ / "ckpt" / "iter_0000001" / "rank_00000.safetensors";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) - 8));
    f.write("garbage!", 8);
  }
  err = message_of([&] { train::Trainer t(resolve(with_load())); });
  EXPECT_NE(err.find("rank_00000.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("CRC"), std::string::npos) << err;
}

}  // namespace
