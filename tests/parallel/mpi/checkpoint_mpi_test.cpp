// Checkpoints across processes. For each layout on 2 or 4 ranks — data parallel, data parallel
// with the distributed optimizer (ZeRO-1 optimizer shards), tensor parallel with sequence
// parallelism, pipeline parallel (untied and tied embeddings, interleaved), expert parallel (an MLA
// + MoE model with expert biases), and their products on 4:
//   * exact resume: N iterations + save + a new Trainer loading it + N gives the same losses,
//     gradient norms and parameters bit for bit as 2N straight in that layout;
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

constexpr int kSteps = 4;  // iterations before and after the save

struct Layout {
  const char* name;
  const char* experiment;              // llama.yaml or deepseek.yaml (written by SetUp)
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
      const std::string common = "  seq_length: 32\n  max_position_embeddings: 64\n"
                                 "  micro_batch_size: 1\n  train_iters: 20\n"
                                 "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                                 "  eval_iters: 0\n  log_interval: 5\n  ddp_bucket_size: 4096\n"
                                 "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                                 "  mock_data: true\n  bf16: false\n  finetune: false\n"
                                 "  workspace: " +
                                 (dir_ / "runs").string() + "\n";
      std::ofstream(dir_ / "llama.yaml") << "model: tiny_llama.yaml\n"
                                            "overrides:\n"
                                            "  num_layers: 4\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                            "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                         << common;
      std::ofstream(dir_ / "llama_tied.yaml") << "model: tiny_llama.yaml\n"
                                                 "overrides:\n"
                                                 "  num_layers: 4\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                                 "  num_attention_heads: 4\n  num_query_groups: 2\n"
                                                 "  untie_embeddings_and_output_weights: false\n"
                                              << common;
      // MLA, shared experts, expert biases (router state that is not a parameter), MTP.
      std::ofstream(dir_ / "deepseek.yaml") << "model: tiny_deepseek_v3.yaml\noverrides:\n"
                                               "  num_layers: 2\n  moe_layer_freq: ([0]*1+[1]*1)\n"
                                               "  hidden_size: 64\n  ffn_hidden_size: 128\n  num_attention_heads: 4\n"
                                               "  q_lora_rank: 32\n  kv_lora_rank: 32\n  qk_head_dim: 16\n"
                                               "  qk_pos_emb_head_dim: 16\n  v_head_dim: 16\n  kv_channels: 16\n"
                                               "  moe_ffn_hidden_size: 32\n  moe_shared_expert_intermediate_size: 64\n"
                                               "  moe_router_bias_update_rate: 0.01\n  expert_tensor_parallel_size: 1\n"
                                            << common;
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (mpi_->rank() == 0) fs::remove_all(dir_);
  }

  config::ResolvedConfig resolve(std::vector<std::string> overrides, int world) {
    overrides.insert(overrides.end(), {"--global-batch-size", "4"});
    return config::resolve(config::ResolveOptions{dir_ / GetParam().experiment, std::move(overrides), world});
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
  const std::string one_ckpt = (dir_ / "one").string();

  const auto par_cfg = resolve(parallel_overrides(), world);
  auto par_state = state_for(par_cfg);
  train::Trainer straight(par_cfg, par_state.get());
  const Trace first = steps(straight, kSteps), second = steps(straight, kSteps);
  const std::vector<float> final_params = params_of(straight);

  const auto save_cfg = resolve(parallel_overrides({"--save", ckpt}), world);
  {
    auto s = state_for(save_cfg);
    train::Trainer a(save_cfg, s.get());
    const Trace t = steps(a, kSteps);
    for (int i = 0; i < kSteps; ++i) EXPECT_EQ(t.losses[i], first.losses[i]);
    a.save_checkpoint();
  }
  {
    const auto load_cfg = resolve(parallel_overrides({"--load", ckpt}), world);
    auto s = state_for(load_cfg);
    train::Trainer b(load_cfg, s.get());
    ASSERT_EQ(b.iteration(), kSteps);
    const Trace resumed = steps(b, kSteps);
    for (int i = 0; i < kSteps; ++i) {
      EXPECT_EQ(resumed.losses[i], second.losses[i]) << "resumed iteration " << i + 1;
      EXPECT_EQ(resumed.norms[i], second.norms[i]) << "resumed iteration " << i + 1;
    }
    const std::vector<float> p = params_of(b);
    EXPECT_EQ(std::memcmp(p.data(), final_params.data(), p.size() * sizeof(float)), 0) << "parameters differ";
  }

  // The one-process reference (rank 0 runs it; the others wait): saved at kSteps, then kSteps more.
  const fs::path ws = dir_ / "ws_one";
  std::vector<double> one_second(kSteps);
  auto near = [](double a, double b) { return std::abs(a - b) <= 1e-5 * std::abs(b); };
  // (The Trainer keeps a reference to its config: named, not temporaries.)
  if (mpi_->rank() == 0) {
    try {
      const auto one_cfg = resolve({"--save", one_ckpt, "--workspace", ws.string()}, 1);
      train::Trainer one(one_cfg);
      steps(one, kSteps);
      one.save_checkpoint();
      one_second = steps(one, kSteps).losses;
      // Layout -> one process.
      const auto load_cfg = resolve({"--load", ckpt, "--workspace", ws.string()}, 1);
      train::Trainer b(load_cfg);
      EXPECT_EQ(b.iteration(), kSteps);
      const Trace t = steps(b, kSteps);
      for (int i = 0; i < kSteps; ++i)
        EXPECT_TRUE(near(t.losses[i], one_second[i]))
            << "layout -> one process: " << t.losses[i] << " vs " << one_second[i];
    } catch (const std::exception& e) {
      ADD_FAILURE() << "one-process reference: " << e.what();  // the other ranks must not wait forever
    }
  }
  MPI_Bcast(one_second.data(), kSteps, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  // One process -> layout.
  {
    const auto cfg = resolve(parallel_overrides({"--load", one_ckpt}), world);
    auto s = state_for(cfg);
    train::Trainer b(cfg, s.get());
    ASSERT_EQ(b.iteration(), kSteps);
    const Trace t = steps(b, kSteps);
    for (int i = 0; i < kSteps; ++i)
      EXPECT_TRUE(near(t.losses[i], one_second[i])) << "one process -> layout: " << t.losses[i] << " vs " << one_second[i];
  }
}

// Two processes: every dimension alone. (Model keys live in the experiment files: the one-process
// reference must be the same model.) Four: products (tests named *np4).
INSTANTIATE_TEST_SUITE_P(
    Layouts, CheckpointLayouts,
    ::testing::Values(
        Layout{"dp", "llama.yaml", {"--use-distributed-optimizer=false"}},
        Layout{"dp_distopt", "llama.yaml", {"--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"}},
        Layout{"tp_sp", "llama.yaml",
               {"--tensor-model-parallel-size", "2", "--sequence-parallel=true", "--use-distributed-optimizer=false"}},
        Layout{"pp", "llama.yaml", {"--pipeline-model-parallel-size", "2", "--use-distributed-optimizer=false"}},
        Layout{"pp_tied_interleaved", "llama_tied.yaml",
               {"--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", "1",
                "--use-distributed-optimizer=false"}},
        Layout{"ep", "deepseek.yaml", {"--expert-model-parallel-size", "2", "--use-distributed-optimizer=false"}},
        Layout{"tp_pp_np4", "llama_tied.yaml",
               {"--tensor-model-parallel-size", "2", "--sequence-parallel=true", "--pipeline-model-parallel-size", "2",
                "--use-distributed-optimizer=false"}},
        Layout{"pp_dp_distopt_np4", "llama.yaml", {"--pipeline-model-parallel-size", "2", "--use-distributed-optimizer"}},
        Layout{"ep_pp_np4", "deepseek.yaml",
               {"--expert-model-parallel-size", "2", "--pipeline-model-parallel-size", "2",
                "--use-distributed-optimizer=false"}}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
