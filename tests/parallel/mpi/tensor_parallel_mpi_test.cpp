// Tensor (and sequence) parallelism on 2 or 4 processes equals the one-process run of the same
// global batch: the initial parameters every rank holds are exactly its slice of the one-process
// model's (bit for bit, through the shard maps), and 10 iterations' losses (MoE balancing and MTP
// losses too) and gradient norms agree within 1e-5 relative (fp32), for a dense GQA model, an MLA
// model and an MoE model (experts whole on every rank: expert tensor parallelism 1), with and
// without sequence parallelism, and with data parallelism beside it. Each rank also runs the
// one-process reference itself (no MPI).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "model/weights_io.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

namespace fs = std::filesystem;

struct Variant {
  const char* name;
  const char* experiment;  // dense.yaml | mla.yaml | moe.yaml
  int tp;                  // tensor-parallel size; the rest of the processes is data parallel
  bool sequence_parallel;
  std::vector<std::string> extra;
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"dense_tp2", "dense.yaml", 2, false, {}},
      {"dense_tp2_sp", "dense.yaml", 2, true, {}},
      {"dense_tp4", "dense.yaml", 4, false, {}},
      {"dense_tp4_sp_bias_qknorm", "dense.yaml", 4, true, {"--add-bias-linear", "--qk-layernorm"}},
      {"dense_tp2_dp", "dense.yaml", 2, true, {"--use-distributed-optimizer", "--overlap-grad-reduce"}},
      {"dense_tp2_tied_layernorm_gelu", "dense.yaml", 2, true,
       {"--untie-embeddings-and-output-weights=false", "--normalization", "LayerNorm", "--swiglu=false"}},
      {"mla_tp2", "mla.yaml", 2, false, {}},
      {"mla_tp2_sp_mtp", "mla.yaml", 2, true, {}},
      {"moe_tp2_sp", "moe.yaml", 2, true, {}},
      {"moe_tp2_sp_dp", "moe.yaml", 2, true, {"--use-distributed-optimizer"}},
  };
  return v;
}

class TensorParallel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    dir_ = fs::temp_directory_path() / ("primus_tp_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const std::string common = "  seq_length: 32\n  micro_batch_size: 2\n  train_iters: 10\n"
                               "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                               "  eval_interval: 10\n  eval_iters: 1\n  log_interval: 5\n"
                               "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                               "  mock_data: true\n  bf16: false\n  init_method_std: 0.05\n  workspace: " +
                               (dir_ / "runs").string() + "\n";
    std::ofstream(dir_ / "dense.yaml") << "model: tiny_llama.yaml\noverrides:\n"
                                          "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                          "  num_attention_heads: 8\n  num_query_groups: 4\n  kv_channels: 16\n"
                                          "  max_position_embeddings: 64\n"
                                       << common;
    std::ofstream(dir_ / "mla.yaml") << "model: tiny_deepseek.yaml\noverrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  kv_lora_rank: 32\n  qk_head_dim: 16\n"
                                        "  qk_pos_emb_head_dim: 16\n  v_head_dim: 16\n  num_experts: null\n"
                                        "  moe_shared_expert_intermediate_size: null\n  mtp_num_layers: 1\n"
                                     << common;
    std::ofstream(dir_ / "moe.yaml") << "model: tiny_mixtral.yaml\noverrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  num_query_groups: 2\n  num_experts: 4\n"
                                        "  moe_router_topk: 2\n  moe_aux_loss_coeff: 0.01\n  moe_z_loss_coeff: 0.001\n"
                                        "  moe_shared_expert_intermediate_size: 64\n  moe_shared_expert_gate: true\n"
                                        "  expert_tensor_parallel_size: 1\n"
                                     << common;
  }
  void TearDown() override { fs::remove_all(dir_); }

  config::ResolvedConfig resolve(const Variant& v, std::vector<std::string> overrides, int world) {
    overrides.insert(overrides.end(), v.extra.begin(), v.extra.end());
    return config::resolve(config::ResolveOptions{dir_ / v.experiment, std::move(overrides), world});
  }

  parallel::MpiRuntime* mpi_ = nullptr;
  fs::path dir_;
};

TEST_P(TensorParallel, MatchesTheOneProcessRunOfTheSameGlobalBatch) {
  const Variant& v = GetParam();
  const int world = mpi_->size();
  ASSERT_EQ(world % v.tp, 0) << "run with a multiple of " << v.tp << " processes (see tests/CMakeLists.txt)";
  const int dp = world / v.tp;
  std::vector<std::string> overrides = {"--tensor-model-parallel-size", std::to_string(v.tp), "--global-batch-size",
                                        std::to_string(2 * dp), "--sequence-parallel=" + std::string(v.sequence_parallel ? "true" : "false")};
  const config::ResolvedConfig tp_config = resolve(v, overrides, world);
  std::vector<std::string> one_overrides = {"--global-batch-size", std::to_string(2 * dp), "--workspace",
                                            (dir_ / "ref").string()};
  const config::ResolvedConfig one_config = resolve(v, one_overrides, 1);
  auto state = parallel::ParallelState::from_mpi(
      parallel::ProcessGroups(parallel::ParallelSizes::from_args(tp_config.args)), &mpi_->watchdog());
  train::Trainer tp(tp_config, state.get());
  train::Trainer one(one_config);
  ASSERT_EQ(tp.parallel_state().tp().size(), v.tp);

  // Initial parameters: each rank's shard is exactly its slice of the one-process tensors. (The
  // vocabulary is padded to a multiple of 128 · TP, so the embedding and output layer have more
  // rows here: their shared rows must agree.)
  std::int64_t compared = 0;
  for (const auto& p : tp.model().layout().params()) {
    const model::ParamInfo* q = one.model().layout().find(p.name);
    ASSERT_NE(q, nullptr) << p.name;
    ASSERT_EQ(p.global_cols, q->global_cols) << p.name;
    ASSERT_GE(p.global_rows, q->global_rows) << p.name;
    std::vector<float> global(static_cast<size_t>(p.global_numel()), 0.0f), mine(static_cast<size_t>(p.numel()));
    model::local_to_global(*q, one.model().params() + q->offset, global.data());
    model::global_to_local(p, global.data(), mine.data());
    const std::int64_t cols = p.cols ? p.cols : 1;
    for (std::int64_t r = 0; r < p.rows; ++r) {
      if (p.global_row(r) >= q->global_rows) continue;  // padding rows only this layout has
      EXPECT_EQ(std::memcmp(mine.data() + r * cols, tp.model().params() + p.offset + r * cols,
                            static_cast<size_t>(cols) * sizeof(float)),
                0)
          << p.name << " row " << r;
      compared += cols;
    }
  }
  EXPECT_LT(compared, one.model().parameter_count());  // really sharded

  double worst = 0;
  for (int it = 1; it <= 10; ++it) {
    const train::IterationResult a = tp.train_step(), b = one.train_step();
    EXPECT_NEAR(a.lm_loss, b.lm_loss, 1e-5 * std::abs(b.lm_loss)) << "iteration " << it;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * std::abs(b.grad_norm)) << "iteration " << it;
    ASSERT_EQ(a.aux_losses.size(), b.aux_losses.size());
    for (size_t k = 0; k < a.aux_losses.size(); ++k)
      EXPECT_NEAR(a.aux_losses[k], b.aux_losses[k], 1e-5 * std::abs(b.aux_losses[k]) + 1e-9)
          << "iteration " << it << " aux " << k;
    worst = std::max({worst, std::abs(a.lm_loss - b.lm_loss) / std::abs(b.lm_loss),
                      std::abs(a.grad_norm - b.grad_norm) / std::abs(b.grad_norm)});
  }
  const auto ea = tp.evaluate(), eb = one.evaluate();
  ASSERT_TRUE(ea && eb);
  EXPECT_NEAR(ea->lm_loss, eb->lm_loss, 1e-5 * std::abs(eb->lm_loss));
  if (mpi_->rank() == 0)
    std::printf("[ %s, %d processes ] vs one process over 10 iterations: largest relative difference %.2g\n", v.name,
                world, worst);
}

INSTANTIATE_TEST_SUITE_P(Variants, TensorParallel, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
