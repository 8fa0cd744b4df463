// Golden strings for the training log. The expected lines were produced by running Megatron's /
// Primus' Python format expressions (str.format with the same specs, statistics.mean over the
// same cur/avg windows) on the inputs below, with only "GPU" replaced by "device".
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "train/iteration_log.hpp"

namespace primus::train {
namespace {

constexpr std::time_t kStamp = 1795496767;  // 2026-11-24 05:06:07 UTC

class IterationLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    if (tz) saved_tz_ = tz;
    had_tz_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_tz_) setenv("TZ", saved_tz_.c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }

 private:
  std::string saved_tz_;
  bool had_tz_ = false;
};

TEST_F(IterationLogTest, MatchesMegatronAndPrimusFormatting) {
  IterationLogOptions o;
  o.log_avg_skip_iterations = 2;
  o.log_avg_reset_interval = 3;
  o.flops_per_sample = 1e12;
  o.seq_length = 1024;
  o.world_size = 2;
  IterationLog log(o);

  const std::vector<std::string> want = {
      " [2026-11-24 05:06:07] iteration        1/    1000 | consumed samples:            8 | elapsed time per "
      "iteration (ms): 2000.0/2000.0 | throughput per device (TFLOP/s/device): 2.0/2.0 | tokens per device "
      "(tokens/s/device): 2048.0/2048.0 | learning rate: 4.285714E-05 | global batch size:     8 | lm loss: "
      "1.050000E+01 | loss scale: 1.0 | grad norm: 1.235 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      " [2026-11-24 05:06:07] iteration        2/    1000 | consumed samples:           16 | elapsed time per "
      "iteration (ms): 1000.0/1500.0 | throughput per device (TFLOP/s/device): 4.0/3.0 | tokens per device "
      "(tokens/s/device): 4096.0/3072.0 | learning rate: 8.571429E-05 | global batch size:     8 | lm loss: "
      "5.250000E+00 | loss scale: 1.0 | grad norm: 2.469 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      // Iteration 3 = log_avg_skip_iterations + 1: the windows restart.
      " [2026-11-24 05:06:07] iteration        3/    1000 | consumed samples:           24 | elapsed time per "
      "iteration (ms): 500.0/500.0 | throughput per device (TFLOP/s/device): 8.0/8.0 | tokens per device "
      "(tokens/s/device): 8192.0/8192.0 | learning rate: 1.285714E-04 | global batch size:     8 | lm loss: "
      "3.500000E+00 | loss scale: 1.0 | grad norm: 3.704 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      " [2026-11-24 05:06:07] iteration        4/    1000 | consumed samples:           32 | elapsed time per "
      "iteration (ms): 400.0/450.0 | throughput per device (TFLOP/s/device): 10.0/9.0 | tokens per device "
      "(tokens/s/device): 10240.0/9216.0 | learning rate: 1.714286E-04 | global batch size:     8 | lm loss: "
      "2.625000E+00 | loss scale: 1.0 | grad norm: 4.938 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      " [2026-11-24 05:06:07] iteration        5/    1000 | consumed samples:           40 | elapsed time per "
      "iteration (ms): 500.0/466.7 | throughput per device (TFLOP/s/device): 8.0/8.7 | tokens per device "
      "(tokens/s/device): 8192.0/8874.7 | learning rate: 2.142857E-04 | global batch size:     8 | lm loss: "
      "2.100000E+00 | loss scale: 1.0 | grad norm: 6.173 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      // The window held log_avg_reset_interval = 3 entries: cleared before this one.
      " [2026-11-24 05:06:07] iteration        6/    1000 | consumed samples:           48 | elapsed time per "
      "iteration (ms): 600.0/600.0 | throughput per device (TFLOP/s/device): 6.7/6.7 | tokens per device "
      "(tokens/s/device): 6826.7/6826.7 | learning rate: 2.571429E-04 | global batch size:     8 | lm loss: "
      "1.750000E+00 | loss scale: 1.0 | grad norm: 7.407 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
      " [2026-11-24 05:06:07] iteration        7/    1000 | consumed samples:           56 | elapsed time per "
      "iteration (ms): 250.0/425.0 | throughput per device (TFLOP/s/device): 16.0/11.3 | tokens per device "
      "(tokens/s/device): 16384.0/11605.3 | learning rate: 3.000000E-04 | global batch size:     8 | lm loss: "
      "1.500000E+00 | loss scale: 1.0 | grad norm: 8.642 | number of skipped iterations:   0 | number of nan "
      "iterations:   0 |",
  };
  const double secs[] = {2.0, 1.0, 0.5, 0.4, 0.5, 0.6, 0.25};
  for (int it = 1; it <= 7; ++it) {
    const LossValue losses[] = {{"lm loss", 10.5 / it}};
    IterationLogEntry e;
    e.iteration = it;
    e.train_iters = 1000;
    e.consumed_samples = 8 * it;
    e.seconds_per_iteration = secs[it - 1];
    e.learning_rate = 3e-4 * it / 7;
    e.global_batch_size = 8;
    e.losses = losses;
    e.grad_norm = 1.23456 * it;
    EXPECT_EQ(std::string(log.line(e, kStamp)), want[static_cast<std::size_t>(it - 1)]) << "iteration " << it;
  }
  EXPECT_DOUBLE_EQ(log.last_tflops_per_device(), 16.0);
  EXPECT_DOUBLE_EQ(log.last_tokens_per_second_per_device(), 16384.0);
}

TEST_F(IterationLogTest, OptionalFieldsAndNoThroughput) {
  IterationLogOptions o;
  o.log_throughput = false;
  o.timestamp = false;
  IterationLog log(o);
  const LossValue losses[] = {{"lm loss", 0.0}, {"z loss", 1.5e-3}};  // a zero average is not printed
  IterationLogEntry e;
  e.iteration = 123456789;
  e.train_iters = 200000000;
  e.consumed_samples = 1234567890123;
  e.seconds_per_iteration = 0.01234;
  e.learning_rate = 0.0;
  e.global_batch_size = 123456;
  e.losses = losses;
  e.loss_scale = 65536.0;
  e.num_zeros_in_grad = 12.0;
  e.params_norm = 345.6789;
  e.skipped_iterations = 3;
  e.nan_iterations = 1234;
  EXPECT_EQ(std::string(log.line(e, kStamp)),
            " iteration 123456789/200000000 | consumed samples: 1234567890123 | elapsed time per iteration (ms): "
            "12.3/12.3 | learning rate: 0.000000E+00 | global batch size: 123456 | z loss: 1.500000E-03 | loss "
            "scale: 65536.0 | num zeros: 12.0 | params norm: 345.679 | number of skipped iterations:   3 | number "
            "of nan iterations: 1234 |");
}

TEST(RecentAverage, SkipsOnlyWhenALogFallsOnTheSkipBoundary) {
  // log_interval 10, skip 2: no log at iteration 3, so the first window is never skipped.
  RecentAverage avg(2, 50);
  EXPECT_DOUBLE_EQ(avg.add(10, 4.0), 4.0);
  EXPECT_DOUBLE_EQ(avg.add(20, 2.0), 3.0);
  EXPECT_DOUBLE_EQ(avg.add(30, 0.0), 2.0);
  EXPECT_EQ(avg.size(), 3u);
  // reset_interval 2: the third value starts a fresh window.
  RecentAverage small(0, 2);
  EXPECT_DOUBLE_EQ(small.add(1, 10.0), 10.0);  // iteration 1 = skip + 1: clear (empty anyway)
  EXPECT_DOUBLE_EQ(small.add(2, 20.0), 15.0);
  EXPECT_DOUBLE_EQ(small.add(3, 60.0), 60.0);
  EXPECT_DOUBLE_EQ(small.add(4, 0.0), 30.0);
}

TEST(LogIntervalTotals, AveragesOverAdvancedIterationsAndCountsSkips) {
  LogIntervalTotals t({"lm loss"});
  const double a[] = {2.0}, b[] = {4.0}, bad[] = {std::numeric_limits<double>::quiet_NaN()};
  t.add_iteration(a, false);
  t.add_iteration(bad, true);   // skipped with NaN: counted, not averaged
  t.add_iteration(b, false);
  t.add_iteration(a, true);     // skipped, finite
  EXPECT_EQ(t.advanced_iterations(), 2);
  EXPECT_EQ(t.skipped_iterations(), 2);
  EXPECT_EQ(t.nan_iterations(), 1);
  EXPECT_EQ(t.iterations(), 4);
  ASSERT_EQ(t.averages().size(), 1u);
  EXPECT_EQ(t.averages()[0].name, "lm loss");
  EXPECT_DOUBLE_EQ(t.averages()[0].value, 3.0);
  // Still valid after a move (short names live inside the std::string objects).
  LogIntervalTotals moved = std::move(t);
  EXPECT_EQ(moved.averages()[0].name, "lm loss");
  EXPECT_DOUBLE_EQ(moved.averages()[0].value, 3.0);
  t = std::move(moved);
  t.reset();
  EXPECT_EQ(t.iterations(), 0);
  EXPECT_DOUBLE_EQ(t.averages()[0].value, 0.0);
  const double two[] = {1.0, 2.0};
  EXPECT_THROW(t.add_iteration(two, false), Error);
}

TEST(ValidationReport, MatchesMegatron) {
  const LossValue v[] = {{"lm loss", 2.345678}};
  const ValidationReport r = format_validation(validation_where(100), v);
  EXPECT_EQ(r.text, " validation loss at iteration 100 | lm loss value: 2.345678E+00 | lm loss PPL: 1.044035E+01 | ");
  EXPECT_EQ(r.rule(), std::string(95, '-'));
  // The perplexity's exponent is capped at 20.
  const LossValue big[] = {{"lm loss", 25.0}};
  EXPECT_EQ(format_validation(validation_where(7, "test"), big).text,
            " validation loss at iteration 7 on test set | lm loss value: 2.500000E+01 | lm loss PPL: 4.851652E+08 | ");
}

TEST_F(IterationLogTest, TimestampAndSummary) {
  EXPECT_EQ(format_timestamp(kStamp), " [2026-11-24 05:06:07]");
  FinalSummary s;
  s.iterations = 50;
  s.consumed_samples = 800;
  s.seconds = 12.34;
  s.tokens_per_second_per_device = 1650.04;
  s.tflops_per_device = 0.1234;
  s.peak_tflops_per_device = 0.44;
  s.peak_rss_bytes = int64_t{3} << 29;  // 1.5 GiB
  s.first_loss = 10.5;
  s.last_loss = 5.25;
  s.validation_loss = 5.5;
  EXPECT_EQ(format_final_summary(s),
            " training summary | iterations: 50 | consumed samples: 800 | elapsed time (s): 12.3 | tokens per "
            "device (tokens/s/device): 1650.0 | throughput per device (TFLOP/s/device): 0.123 | model FLOP "
            "utilization: 28.0 % | peak memory (RSS): 1.50 GiB | lm loss first/last: 1.050000E+01/5.250000E+00 | "
            "validation lm loss: 5.500000E+00 |");
  FinalSummary bare;
  EXPECT_EQ(format_final_summary(bare),
            " training summary | iterations: 0 | consumed samples: 0 | elapsed time (s): 0.0 | tokens per device "
            "(tokens/s/device): 0.0 | throughput per device (TFLOP/s/device): 0.000 | peak memory (RSS): 0.00 GiB |");
}

}  // namespace
}  // namespace primus::train
