// Checkpoints across processes. For each layout on 2 (or 4) ranks — data parallel, data parallel
// with the distributed optimizer (ZeRO-1 optimizer shards), tensor parallel with sequence
// parallelism:
//   * exact resume: 10 iterations + save + a new Trainer loading it + 10 gives the same losses,
//     gradient norms and parameters bit for bit as 20 straight in that layout;
//   * resharding: the checkpoint saved under the layout loads into the one-process model, and one
//     saved by one process loads under the layout; both continue with the losses of the
//     one-process run within the parallel tests' tolerance (1e-5 relative, as the tensor-parallel
//     tests: sums over ranks associate differently).
#include <gtest/gtest.h>
#include <mpi.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_paths.hpp"
#include "config/resolved_config.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

namespace fs = std::filesystem;

struct Layout {
  const char* name;
  std::vector<std::string> overrides;  // besides the world size
};

std::ostream& operator<<(std::ostream& os, const Layout& l) { return os << l.name; }

class CheckpointLayouts : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    // One folder shared by the ranks (rank 0's pid).
    long id = getpid();
    MPI_Bcast(&id, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    dir_ = fs::temp_directory_path() / ("primus_ckpt_mpi_" + std::to_string(id));
    if (mpi_->rank() == 0) {
      fs::create_directories(dir_);
      std::ofstream(dir_ / "exp.yaml") << "model: tiny_llama.yaml\n"
                                          "overrides:\n"
                                          "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                          "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                          "  seq_length: 32\n  max_position_embeddings: 64\n"
                                          "  micro_batch_size: 2\n  train_iters: 20\n"
                                          "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                                          "  eval_iters: 0\n  log_interval: 5\n  ddp_bucket_size: 4096\n"
                                          "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                          "  mock_data: true\n  bf16: false\n  finetune: false\n"
                                          "  workspace: "
                                       << (dir_ / "runs").string() << "\n";
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (mpi_->rank() == 0) fs::remove_all(dir_);
  }

  config::ResolvedConfig resolve(std::vector<std::string> overrides, int world) {
    overrides.insert(overrides.end(), {"--global-batch-size", "4"});
    return config::resolve(config::ResolveOptions{dir_ / "exp.yaml", std::move(overrides), world});
  }
  std::vector<std::string> parallel_overrides(std::vector<std::string> extra = {}) {
    std::vector<std::string> o = GetParam().overrides;
    o.insert(o.end(), extra.begin(), extra.end());
    return o;
  }
  std::unique_ptr<parallel::ParallelState> state_for(const config::ResolvedConfig& c) {
    return parallel::ParallelState::from_mpi(parallel::ProcessGroups(parallel::ParallelSizes::from_args(c.args)),
                                             &mpi_->watchdog());
  }

  parallel::MpiRuntime* mpi_ = nullptr;
  fs::path dir_;
};

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

std::vector<float> params_of(train::Trainer& t) {
  t.finish_parameter_sync();
  return {t.model().params(), t.model().params() + t.model().num_params()};
}

TEST_P(CheckpointLayouts, ResumeIsBitExactAndReshardsBothWays) {
  const int world = mpi_->size();
  const std::string ckpt = (dir_ / "par").string();
  // Every rank runs its own one-process reference and saves it in a folder of its own.
  const std::string one_ckpt = (dir_ / ("one_" + std::to_string(mpi_->rank()))).string();

  const auto par_cfg = resolve(parallel_overrides(), world);
  auto par_state = state_for(par_cfg);
  train::Trainer straight(par_cfg, par_state.get());
  const Trace first = steps(straight, 10), second = steps(straight, 10);
  const std::vector<float> final_params = params_of(straight);

  const auto save_cfg = resolve(parallel_overrides({"--save", ckpt}), world);
  {
    auto s = state_for(save_cfg);
    train::Trainer a(save_cfg, s.get());
    const Trace t = steps(a, 10);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(t.losses[i], first.losses[i]);
    a.save_checkpoint();
  }
  {
    const auto load_cfg = resolve(parallel_overrides({"--load", ckpt}), world);
    auto s = state_for(load_cfg);
    train::Trainer b(load_cfg, s.get());
    ASSERT_EQ(b.iteration(), 10);
    const Trace resumed = steps(b, 10);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(resumed.losses[i], second.losses[i]) << "resumed iteration " << i + 1;
      EXPECT_EQ(resumed.norms[i], second.norms[i]) << "resumed iteration " << i + 1;
    }
    const std::vector<float> p = params_of(b);
    EXPECT_EQ(std::memcmp(p.data(), final_params.data(), p.size() * sizeof(float)), 0) << "parameters differ";
  }

  // The one-process reference, straight, and saved at 10.
  const auto one_cfg = resolve({"--workspace", (dir_ / ("ws_" + std::to_string(mpi_->rank()))).string()}, 1);
  train::Trainer one(one_cfg);
  steps(one, 10);
  const Trace one_second = steps(one, 10);
  {
    const auto cfg = resolve({"--save", one_ckpt, "--workspace", (dir_ / ("ws_" + std::to_string(mpi_->rank()))).string()}, 1);
    train::Trainer a(cfg);
    steps(a, 10);
    a.save_checkpoint();
  }
  auto near = [](double a, double b) { return std::abs(a - b) <= 1e-5 * std::abs(b); };
  // Layout -> one process.
  {
    const auto cfg = resolve({"--load", ckpt, "--workspace", (dir_ / ("ws_" + std::to_string(mpi_->rank()))).string()}, 1);
    train::Trainer b(cfg);
    ASSERT_EQ(b.iteration(), 10);
    const Trace t = steps(b, 10);
    for (int i = 0; i < 10; ++i)
      EXPECT_TRUE(near(t.losses[i], one_second.losses[i])) << t.losses[i] << " vs " << one_second.losses[i];
  }
  // One process -> layout (rank 0's checkpoint).
  {
    const auto cfg = resolve(parallel_overrides({"--load", (dir_ / "one_0").string()}), world);
    auto s = state_for(cfg);
    train::Trainer b(cfg, s.get());
    ASSERT_EQ(b.iteration(), 10);
    const Trace t = steps(b, 10);
    for (int i = 0; i < 10; ++i)
      EXPECT_TRUE(near(t.losses[i], one_second.losses[i])) << t.losses[i] << " vs " << one_second.losses[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, CheckpointLayouts,
                         ::testing::Values(Layout{"dp", {"--use-distributed-optimizer=false"}},
                                           Layout{"dp_distopt", {"--use-distributed-optimizer", "--overlap-grad-reduce",
                                                                 "--overlap-param-gather"}},
                                           Layout{"tp_sp", {"--tensor-model-parallel-size", "2", "--sequence-parallel=true",
                                                            "--use-distributed-optimizer=false"}}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
