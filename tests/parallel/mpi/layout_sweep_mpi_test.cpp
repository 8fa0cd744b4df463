// Every layout of Megatron's five dimensions that fits 8 processes trains, and trains the same
// model: for each TP × PP × CP × DP = 8 (sequence parallel whenever TP > 1, as Megatron requires
// for MoE), each expert-parallel size that divides TP × CP × DP, and interleaved pipelining where
// the layers allow it, an 8-layer MoE model (8 experts, top-2, aux loss) runs 2 iterations of the
// same global batch as the one-process run, whose losses (lm and load balancing) and gradient
// norms it must match within 1e-5 relative. Rank 0 computes the one-process reference once.
//
// Runs as parallel.layout_sweep_np8 (8 processes oversubscribed on 2 cores, where one layout
// takes 2-20 s: labelled slow). CI runs each TP × PP × CP × DP once, with the largest expert-
// parallel size it allows, plus the interleaved variants (29 layouts); PRIMUS_LAYOUT_SWEEP=all
// runs all 74 (every EP size of each).
#include <gtest/gtest.h>
#include <mpi.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/resolved_config.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

namespace fs = std::filesystem;

constexpr int kWorld = 8;
constexpr int kLayers = 8;
constexpr int kExperts = 8;
constexpr int kIterations = 2;
constexpr int kGlobalBatch = 8;  // micro-batch 1: 8 / dp micro-batches per step

struct Layout {
  int tp, pp, cp, dp, ep, vpp;
  std::string name() const {
    return fmt::format("tp{}_pp{}{}_cp{}_dp{}_ep{}", tp, pp, vpp > 1 ? fmt::format("v{}", vpp) : "", cp, dp, ep);
  }
};

std::ostream& operator<<(std::ostream& os, const Layout& l) { return os << l.name(); }

// Every layout of 8 processes, by the rules Megatron checks (validate_args): EP × ETP (1) divides
// TP × CP × DP; interleaving (2 virtual stages per rank, with EP 1) where each virtual stage gets a
// layer and the micro-batches are a multiple of PP.
std::vector<Layout> layouts() {
  const char* sweep = std::getenv("PRIMUS_LAYOUT_SWEEP");
  const bool all = sweep && std::string(sweep) == "all";
  std::vector<Layout> out;
  for (int tp = 1; tp <= kWorld; tp *= 2)
    for (int pp = 1; tp * pp <= kWorld; pp *= 2)
      for (int cp = 1; tp * pp * cp <= kWorld; cp *= 2) {
        const int dp = kWorld / (tp * pp * cp);
        const int largest_ep = std::min(kExperts, tp * cp * dp);
        for (int ep = 1; ep <= kExperts && (tp * cp * dp) % ep == 0; ep *= 2) {
          if (all || ep == largest_ep) out.push_back({tp, pp, cp, dp, ep, 1});
          const int micro_batches = kGlobalBatch / dp;
          if (pp > 1 && ep == 1 && kLayers / pp >= 2 && micro_batches % pp == 0)
            out.push_back({tp, pp, cp, dp, ep, 2});
        }
      }
  return out;
}

class LayoutSweep : public ::testing::TestWithParam<Layout> {
 protected:
  static void SetUpTestSuite() {
    mpi_ = parallel::MpiRuntime::current();
    long id = getpid();
    MPI_Bcast(&id, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    dir_ = fs::temp_directory_path() / ("primus_sweep_" + std::to_string(id));
    if (mpi_->rank() == 0) {
      fs::create_directories(dir_);
      std::ofstream(dir_ / "moe.yaml") << "model: tiny_mixtral.yaml\noverrides:\n"
                                          "  num_layers: 8\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                          "  num_attention_heads: 8\n  num_query_groups: 8\n  kv_channels: 16\n"
                                          "  num_experts: 8\n  moe_ffn_hidden_size: 32\n  moe_router_topk: 2\n"
                                          "  moe_aux_loss_coeff: 0.01\n  expert_tensor_parallel_size: 1\n"
                                          "  seq_length: 32\n  max_position_embeddings: 64\n  micro_batch_size: 1\n"
                                          "  global_batch_size: 8\n  train_iters: 2\n"
                                          "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 1\n"
                                          "  eval_iters: 0\n  log_interval: 1\n"
                                          "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                          "  mock_data: true\n  bf16: false\n  init_method_std: 0.05\n"
                                          "  use_distributed_optimizer: false\n  workspace: "
                                       << (dir_ / "runs").string() << "\n";
    }
    MPI_Barrier(MPI_COMM_WORLD);
    // The one-process reference: rank 0 runs it, everyone receives it.
    reference_.assign(3 * kIterations, 0.0);
    if (mpi_->rank() == 0) {
      try {
        const auto cfg = config::resolve(
            config::ResolveOptions{dir_ / "moe.yaml", {"--workspace", (dir_ / "one").string()}, 1});
        train::Trainer one(cfg);
        for (int it = 0; it < kIterations; ++it) {
          const train::IterationResult r = one.train_step();
          reference_[3 * it] = r.lm_loss;
          reference_[3 * it + 1] = r.grad_norm;
          reference_[3 * it + 2] = r.aux_losses.empty() ? 0.0 : r.aux_losses[0];
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "one-process reference failed: %s\n", e.what());
        reference_.assign(3 * kIterations, -1.0);
      }
    }
    MPI_Bcast(reference_.data(), 3 * kIterations, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  }
  static void TearDownTestSuite() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (mpi_->rank() == 0) fs::remove_all(dir_);
  }

  static parallel::MpiRuntime* mpi_;
  static fs::path dir_;
  static std::vector<double> reference_;  // per iteration: lm loss, grad norm, load-balancing loss
};

parallel::MpiRuntime* LayoutSweep::mpi_ = nullptr;
fs::path LayoutSweep::dir_;
std::vector<double> LayoutSweep::reference_;

TEST_P(LayoutSweep, TrainsLikeOneProcess) {
  const Layout& l = GetParam();
  ASSERT_EQ(mpi_->size(), kWorld) << "run with " << kWorld << " processes";
  ASSERT_GT(reference_[0], 0.0) << "the one-process reference failed";
  std::vector<std::string> o = {"--tensor-model-parallel-size", std::to_string(l.tp),
                                "--pipeline-model-parallel-size", std::to_string(l.pp),
                                "--context-parallel-size", std::to_string(l.cp),
                                "--expert-model-parallel-size", std::to_string(l.ep),
                                "--sequence-parallel=" + std::string(l.tp > 1 ? "true" : "false")};
  if (l.vpp > 1) o.insert(o.end(), {"--num-virtual-stages-per-pipeline-rank", std::to_string(l.vpp)});
  const auto cfg = config::resolve(config::ResolveOptions{dir_ / "moe.yaml", o, kWorld});
  auto state = parallel::ParallelState::from_mpi(parallel::ProcessGroups(parallel::ParallelSizes::from_args(cfg.args)),
                                                 &mpi_->watchdog());
  ASSERT_EQ(state->dp().size(), l.dp);
  train::Trainer t(cfg, state.get());
  ASSERT_EQ(t.model().num_chunks(), l.vpp);
  for (int it = 0; it < kIterations; ++it) {
    const train::IterationResult r = t.train_step();
    const double lm = reference_[3 * it], norm = reference_[3 * it + 1], aux = reference_[3 * it + 2];
    EXPECT_NEAR(r.lm_loss, lm, 1e-5 * lm) << "iteration " << it + 1;
    EXPECT_NEAR(r.grad_norm, norm, 1e-5 * norm) << "iteration " << it + 1;
    ASSERT_FALSE(r.aux_losses.empty());
    EXPECT_NEAR(r.aux_losses[0], aux, 1e-5 * aux) << "iteration " << it + 1 << " load-balancing loss";
  }
}

INSTANTIATE_TEST_SUITE_P(EightProcesses, LayoutSweep, ::testing::ValuesIn(layouts()),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
