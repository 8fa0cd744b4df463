// LrScheduler against tests/train/fixtures/lr_schedule.json, written by the independent Python
// implementation of megatron-formats.md §5 (tools/reference/train/lr_schedule_reference.py):
// every decay style, warmup from iterations / fraction / samples, WSD's four anneal shapes and
// the three weight-decay increment styles. Plus the clear errors for inconsistent settings.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "config/args.hpp"
#include "core/error.hpp"
#include "train/lr_scheduler.hpp"

namespace primus::train {
namespace {

// Megatron's defaults for the fields the schedule reads (Args{} zero-initialises them).
config::Args default_args() {
  config::Args a;
  a.lr = 1e-4;
  a.min_lr = 0.0;
  a.lr_decay_style = "linear";
  a.lr_wsd_decay_style = "exponential";
  a.lr_warmup_iters = 0;
  a.lr_warmup_samples = 0;
  a.lr_warmup_init = 0.0;
  a.weight_decay = 0.01;
  a.weight_decay_incr_style = "constant";
  a.global_batch_size = 8;
  a.train_iters = 10;
  return a;
}

config::Args args_from_json(const nlohmann::json& j) {
  config::Args a = default_args();
  a.train_iters.reset();
  for (const auto& [key, v] : j.items()) {
    if (key == "lr") a.lr = v.get<double>();
    else if (key == "min_lr") a.min_lr = v.get<double>();
    else if (key == "lr_decay_style") a.lr_decay_style = v.get<std::string>();
    else if (key == "lr_wsd_decay_style") a.lr_wsd_decay_style = v.get<std::string>();
    else if (key == "lr_warmup_iters") a.lr_warmup_iters = v.get<int64_t>();
    else if (key == "lr_warmup_samples") a.lr_warmup_samples = v.get<int64_t>();
    else if (key == "lr_warmup_fraction") a.lr_warmup_fraction = v.get<double>();
    else if (key == "lr_warmup_init") a.lr_warmup_init = v.get<double>();
    else if (key == "lr_decay_iters") a.lr_decay_iters = v.get<int64_t>();
    else if (key == "lr_decay_samples") a.lr_decay_samples = v.get<int64_t>();
    else if (key == "lr_wsd_decay_iters") a.lr_wsd_decay_iters = v.get<int64_t>();
    else if (key == "lr_wsd_decay_samples") a.lr_wsd_decay_samples = v.get<int64_t>();
    else if (key == "train_iters") a.train_iters = v.get<int64_t>();
    else if (key == "train_samples") a.train_samples = v.get<int64_t>();
    else if (key == "global_batch_size") a.global_batch_size = v.get<int64_t>();
    else if (key == "weight_decay") a.weight_decay = v.get<double>();
    else if (key == "start_weight_decay") a.start_weight_decay = v.get<double>();
    else if (key == "end_weight_decay") a.end_weight_decay = v.get<double>();
    else if (key == "weight_decay_incr_style") a.weight_decay_incr_style = v.get<std::string>();
    else ADD_FAILURE() << "fixture names an argument the test does not map: " << key;
  }
  return a;
}

nlohmann::json load_fixture() {
  const std::string path = std::string(PRIMUS_SOURCE_DIR) + "/tests/train/fixtures/lr_schedule.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path);
  return nlohmann::json::parse(in);
}

// Relative agreement to a few ulps: both sides evaluate the same closed forms in double.
void expect_close(double got, double want, const std::string& what) {
  const double tol = 1e-12 * std::max(1e-6, std::fabs(want));
  EXPECT_NEAR(got, want, tol) << what;
}

TEST(LrScheduler, MatchesReferenceForEveryStyle) {
  const auto fixture = load_fixture();
  ASSERT_GE(fixture["cases"].size(), 15u);
  for (const auto& c : fixture["cases"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    const LrScheduler sched = LrScheduler::from_args(args_from_json(c["args"]));
    ASSERT_FALSE(c["points"].empty());
    for (const auto& p : c["points"]) {
      const int64_t n = p[0].get<int64_t>();
      expect_close(sched.lr(n), p[1].get<double>(), name + " lr at " + std::to_string(n) + " samples");
      expect_close(sched.weight_decay(n), p[2].get<double>(),
                   name + " weight decay at " + std::to_string(n) + " samples");
    }
  }
}

TEST(LrScheduler, CountsStepsInSamples) {
  config::Args a = default_args();
  a.lr = 1.0;
  a.global_batch_size = 4;
  a.train_iters = 10;
  a.lr_warmup_iters = 2;  // 8 samples
  const auto s = LrScheduler::from_args(a);
  EXPECT_EQ(s.schedule().decay_steps, 40);
  EXPECT_DOUBLE_EQ(s.schedule().warmup_steps, 8.0);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);   // after iteration 1
  EXPECT_DOUBLE_EQ(s.lr(8), 1.0);   // end of warmup
  EXPECT_DOUBLE_EQ(s.lr(24), 0.5);  // halfway through linear decay
  EXPECT_DOUBLE_EQ(s.lr(40), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(400), 0.0);
}

TEST(LrScheduler, WarmupFractionIsOfDecaySteps) {
  config::Args a = default_args();
  a.train_iters = 100;
  a.lr_decay_iters = 50;
  a.global_batch_size = 2;
  a.lr_warmup_fraction = 0.25;
  EXPECT_DOUBLE_EQ(LrScheduler::from_args(a).schedule().warmup_steps, 25.0);  // 0.25 · 50 · 2
}

TEST(LrScheduler, WeightDecayDefaultsToWeightDecay) {
  config::Args a = default_args();
  a.weight_decay = 0.3;
  a.weight_decay_incr_style = "linear";
  a.end_weight_decay = 0.5;
  const auto s = LrScheduler::from_args(a);
  EXPECT_DOUBLE_EQ(s.schedule().start_weight_decay, 0.3);
  EXPECT_DOUBLE_EQ(s.schedule().end_weight_decay, 0.5);
  EXPECT_DOUBLE_EQ(s.weight_decay(0), 0.3);
  EXPECT_DOUBLE_EQ(s.weight_decay(80), 0.5);
  EXPECT_DOUBLE_EQ(s.weight_decay(800), 0.5);
}

std::string error_of(const config::Args& a) {
  try {
    LrScheduler::from_args(a);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LrScheduler, RejectsInconsistentSettingsClearly) {
  {
    config::Args a = default_args();
    a.lr_decay_style = "WSD";
    EXPECT_NE(error_of(a).find("lr_wsd_decay_iters"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.lr_decay_style = "cosin";
    EXPECT_NE(error_of(a).find("'cosin'"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.lr_warmup_iters = 10;  // == train_iters: warmup must be shorter than decay
    EXPECT_NE(error_of(a).find("shorter than the decay"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.min_lr = 1.0;
    EXPECT_NE(error_of(a).find("min_lr"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.lr_warmup_init = 1.0;
    EXPECT_NE(error_of(a).find("lr_warmup_init"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.start_weight_decay = 0.1;  // constant style takes weight_decay only
    EXPECT_NE(error_of(a).find("weight_decay_incr_style"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.weight_decay_incr_style = "linear";
    a.start_weight_decay = 0.2;
    a.end_weight_decay = 0.1;
    EXPECT_NE(error_of(a).find("end_weight_decay"), std::string::npos) << error_of(a);
  }
  {
    config::Args a = default_args();
    a.train_iters.reset();
    EXPECT_NE(error_of(a).find("train_iters"), std::string::npos) << error_of(a);
  }
}

}  // namespace
}  // namespace primus::train
