// Data-parallel training on 2 or 4 processes equals the one-process run of the same global batch:
// 10 iterations' losses (with MoE: the balancing and MTP losses too), gradient norms and the final
// validation loss, with and without the distributed optimizer, with and without overlapping the gradient reduction (and the parameter
// all-gather), one or several micro-batches per rank, fp32 and bf16. Each rank also runs the
// one-process reference itself (no MPI), so every rank checks. After training every rank holds
// the same parameters, bit for bit.
//
// fp32 must agree to 1e-6 relative (the sums over ranks are associated differently from the
// one-process accumulation, so the last bits may differ); bf16 to 1e-3. How many iterations are
// bit-identical is printed for the record.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

namespace fs = std::filesystem;

struct Variant {
  const char* name;
  std::vector<std::string> overrides;
  int micro_batches_per_rank = 1;
  double tolerance = 1e-6;
  const char* experiment = "dense.yaml";
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"allreduce", {"--use-distributed-optimizer=false"}},
      {"allreduce_overlap", {"--use-distributed-optimizer=false", "--overlap-grad-reduce"}},
      {"distopt", {"--use-distributed-optimizer"}},
      {"distopt_overlap", {"--use-distributed-optimizer", "--overlap-grad-reduce"}},
      {"distopt_overlap_param_gather", {"--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"}},
      {"distopt_overlap_4_micro_batches", {"--use-distributed-optimizer", "--overlap-grad-reduce"}, 4},
      {"allreduce_3_micro_batches_average_in_collective",
       {"--use-distributed-optimizer=false", "--ddp-average-in-collective"}, 3},
      {"bf16_distopt_overlap", {"--bf16", "--use-distributed-optimizer", "--overlap-grad-reduce"}, 1, 1e-3},
      {"bf16_grad_reduce_in_bf16", {"--bf16", "--grad-reduce-in-bf16", "--use-distributed-optimizer"}, 2, 1e-3},
      // DeepSeek-V3 shape: MLA, MoE with an expert region (reduced over the expert data-parallel
      // group), the router's expert bias updated from token counts summed over ranks, MTP.
      {"moe_mla_mtp_distopt_overlap", {"--use-distributed-optimizer", "--overlap-grad-reduce"}, 2, 1e-6, "moe.yaml"},
  };
  return v;
}

class DataParallel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    dir_ = fs::temp_directory_path() / ("primus_dp_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const std::string common = "  seq_length: 32\n  micro_batch_size: 2\n  train_iters: 10\n"
                               "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                               "  eval_interval: 10\n  eval_iters: 2\n  log_interval: 5\n"
                               "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                               "  mock_data: true\n  bf16: false\n  workspace: " +
                               (dir_ / "runs").string() + "\n";
    std::ofstream(dir_ / "dense.yaml") << "model: tiny_llama.yaml\n"
                                          "overrides:\n"
                                          "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                          "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                          "  max_position_embeddings: 64\n"
                                          "  ddp_bucket_size: 4096\n"  // tens of buckets on this model
                                       << common;
    std::ofstream(dir_ / "moe.yaml") << "model: tiny_deepseek_v3.yaml\n"
                                        "overrides:\n"
                                        "  num_layers: 2\n  moe_layer_freq: ([0]*1+[1]*1)\n"
                                        "  ddp_bucket_size: 65536\n"
                                     << common;
  }
  void TearDown() override { fs::remove_all(dir_); }

  config::ResolvedConfig resolve(const char* experiment, std::vector<std::string> overrides, int world) {
    return config::resolve(config::ResolveOptions{dir_ / experiment, std::move(overrides), world});
  }

  parallel::MpiRuntime* mpi_ = nullptr;
  fs::path dir_;
};

std::uint64_t bits_hash(const float* x, std::int64_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, x + i, 4);
    h = (h ^ u) * 1099511628211ull;
  }
  return h;
}

TEST_P(DataParallel, MatchesTheOneProcessRunOfTheSameGlobalBatch) {
  const Variant& v = GetParam();
  const int world = mpi_->size();
  std::vector<std::string> overrides = v.overrides;
  overrides.push_back("--global-batch-size");
  overrides.push_back(std::to_string(2 * world * v.micro_batches_per_rank));
  std::vector<std::string> ref_overrides = overrides;
  ref_overrides.push_back("--workspace");
  ref_overrides.push_back((dir_ / "ref").string());

  const config::ResolvedConfig dp_config = resolve(v.experiment, overrides, world);
  const config::ResolvedConfig one_config = resolve(v.experiment, ref_overrides, 1);
  auto state = parallel::ParallelState::from_mpi(
      parallel::ProcessGroups(parallel::ParallelSizes::from_args(dp_config.args)), &mpi_->watchdog());
  train::Trainer dp(dp_config, state.get());
  train::Trainer one(one_config);
  ASSERT_EQ(dp.parallel_state().dp().size(), world);
  if (std::string(v.experiment) == "moe.yaml") {
    ASSERT_EQ(dp.ddp().buffer().regions().size(), 2u);  // dense and expert regions
  }
  if (dp_config.args.use_distributed_optimizer) {
    // ZeRO-1: this rank keeps optimizer state for about 1/world of the parameters.
    EXPECT_LT(dp.optimizer().state_elements(), one.optimizer().state_elements() / world + 4096);
  }

  int identical = 0, printed_identical = 0;
  double worst = 0;
  for (int it = 1; it <= 10; ++it) {
    const train::IterationResult a = dp.train_step(), b = one.train_step();
    EXPECT_NEAR(a.lm_loss, b.lm_loss, v.tolerance * std::abs(b.lm_loss)) << "iteration " << it;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, v.tolerance * std::abs(b.grad_norm)) << "iteration " << it;
    EXPECT_EQ(a.learning_rate, b.learning_rate);
    ASSERT_EQ(a.aux_losses.size(), b.aux_losses.size());
    for (std::size_t k = 0; k < a.aux_losses.size(); ++k)  // MoE balancing, MTP: averaged over ranks
      EXPECT_NEAR(a.aux_losses[k], b.aux_losses[k], v.tolerance * std::abs(b.aux_losses[k])) << "iteration " << it;
    identical += a.lm_loss == b.lm_loss && a.grad_norm == b.grad_norm;
    // As the iteration line prints them (lm loss %.6E, grad norm %.3f).
    printed_identical += fmt::format("{:.6E} {:.3f}", a.lm_loss, a.grad_norm) ==
                         fmt::format("{:.6E} {:.3f}", b.lm_loss, b.grad_norm);
    worst = std::max({worst, std::abs(a.lm_loss - b.lm_loss) / std::abs(b.lm_loss),
                      std::abs(a.grad_norm - b.grad_norm) / std::abs(b.grad_norm)});
  }
  EXPECT_EQ(dp.consumed_samples(), one.consumed_samples());
  const auto ea = dp.evaluate(), eb = one.evaluate();
  ASSERT_TRUE(ea && eb);
  EXPECT_NEAR(ea->lm_loss, eb->lm_loss, v.tolerance * std::abs(eb->lm_loss));

  // Every rank ends with the same parameters (the all-gather of the distributed optimizer).
  dp.finish_parameter_sync();
  const auto h = static_cast<std::int64_t>(bits_hash(dp.model().params(), dp.model().num_params()) >> 1);
  std::int64_t extremes[2] = {h, -h};
  state->world().allreduce(extremes, 2, parallel::ReduceOp::Max);
  EXPECT_EQ(extremes[0], -extremes[1]) << "parameters differ across ranks";
  // And they track the one-process parameters.
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < one.model().num_params(); ++i) {
    const double d = dp.model().params()[i] - one.model().params()[i];
    diff += d * d;
    norm += static_cast<double>(one.model().params()[i]) * one.model().params()[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), v.tolerance * 10);
  if (mpi_->rank() == 0)
    std::printf("[ %s, %d processes ] vs one process over 10 iterations: loss and grad norm bit-identical in %d, "
                "identical as printed in %d, largest relative difference %.2g; parameters after 10 steps differ by "
                "%.2g (relative L2)\n",
                v.name, world, identical, printed_identical, worst, std::sqrt(diff / norm));
}

INSTANTIATE_TEST_SUITE_P(Variants, DataParallel, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
