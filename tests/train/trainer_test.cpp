// The training loop end to end on a tiny model with mock data: the loss falls, two runs with one
// seed are identical, evaluation and exit_interval work, a diverging run stops with a clear
// message, and the run folder holds the logs.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() / (std::string("primus_trainer_") + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "exp.yaml") << "model: tiny_llama.yaml\n"
                                        "overrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                        "  seq_length: 32\n  max_position_embeddings: 64\n"
                                        "  micro_batch_size: 2\n  global_batch_size: 4\n  train_iters: 40\n"
                                        "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                                        "  eval_interval: 20\n  eval_iters: 2\n  log_interval: 5\n"
                                        "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                        "  mock_data: true\n  bf16: false\n  workspace: " +
                                            (dir_ / "runs").string() + "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  config::ResolvedConfig resolve(std::vector<std::string> cli = {}, int64_t world = 1) {
    return config::resolve(config::ResolveOptions{dir_ / "exp.yaml", std::move(cli), world});
  }

  std::filesystem::path dir_;
};

TEST_F(TrainerTest, LossFallsAndValidationRuns) {
  auto cfg = resolve();
  train::Trainer trainer(cfg);
  train::TrainingSummary s = trainer.run();
  EXPECT_EQ(s.iterations, 40);
  EXPECT_EQ(trainer.consumed_samples(), 160);
  EXPECT_LT(s.last_loss, s.first_loss - 1.0) << s.first_loss << " -> " << s.last_loss;
  ASSERT_EQ(s.evals.size(), 2u);  // iterations 20 and 40
  EXPECT_EQ(s.evals[1].iteration, 40);
  EXPECT_LT(s.evals[1].lm_loss, s.evals[0].lm_loss + 0.5);
  EXPECT_GT(s.tokens_per_second, 0.0);
  // The run folder and its log (Primus layout: logs/pre_trainer/rank-0/info.log).
  auto root = dir_ / "runs/amd/root/primus-experiment";
  EXPECT_TRUE(std::filesystem::is_directory(root / "checkpoints"));
  std::ifstream info(root / "logs/pre_trainer/rank-0/info.log");
  std::stringstream text;
  text << info.rdbuf();
  EXPECT_NE(text.str().find("iteration       40/      40 | consumed samples:          160"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("validation loss at iteration 20"), std::string::npos);
  EXPECT_NE(text.str().find("training summary"), std::string::npos);
}

TEST_F(TrainerTest, SameSeedSameLosses) {
  auto cfg = resolve({"--train-iters", "5"});
  train::Trainer a(cfg), b(cfg);
  for (int i = 0; i < 5; ++i) {
    auto ra = a.train_step(), rb = b.train_step();
    EXPECT_EQ(ra.lm_loss, rb.lm_loss) << "iteration " << i + 1;
    EXPECT_EQ(ra.grad_norm, rb.grad_norm);
  }
  auto other = resolve({"--train-iters", "5", "--seed", "99"});
  train::Trainer c(other);
  EXPECT_NE(train::Trainer(cfg).train_step().lm_loss, c.train_step().lm_loss);
}

TEST_F(TrainerTest, ExitIntervalStopsEarly) {
  auto cfg = resolve({"--exit-interval", "10", "--eval-iters", "0"});
  train::Trainer trainer(cfg);
  EXPECT_EQ(trainer.run().iterations, 10);
}

TEST_F(TrainerTest, RecomputeAndBf16Train) {
  auto rec = resolve({"--recompute-granularity", "full", "--recompute-method", "uniform", "--recompute-num-layers", "1",
                      "--train-iters", "3"});
  auto plain = resolve({"--train-iters", "3"});
  train::Trainer a(rec), b(plain);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.train_step().lm_loss, b.train_step().lm_loss);
  auto bf16 = resolve({"--bf16", "--train-iters", "3"});
  train::Trainer c(bf16);
  train::Trainer d(plain);
  const double lb = c.train_step().lm_loss, lf = d.train_step().lm_loss;
  EXPECT_NEAR(lb, lf, 1e-2 * lf);
}

TEST_F(TrainerTest, DivergenceStopsWithTheIteration) {
  auto cfg = resolve({"--lr", "1e6", "--min-lr", "1e6", "--lr-warmup-iters", "0", "--clip-grad", "0"});
  train::Trainer trainer(cfg);
  try {
    trainer.run();
    FAIL() << "a diverging run must stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not finite; stopping (check_for_nan_in_loss_and_grad)"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("iteration "), std::string::npos);
  }
}

TEST_F(TrainerTest, FeaturesNotBuiltFailClearly) {
  try {
    train::Trainer t(resolve({}, 2));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("resolved for 2 processes but this run has 1; launch it with mpirun -np 2"),
              std::string::npos)
        << e.what();
  }
  try {
    train::Trainer t(resolve({"--reset-position-ids"}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reset_position_ids"), std::string::npos) << e.what();
  }
}

}  // namespace
