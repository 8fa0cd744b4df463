// Pipeline parallelism (1F1B and interleaved, even and uneven splits, tied embeddings, MTP on the
// last stage, MoE, recompute) on 2 or 4 processes — alone and beside data and tensor parallelism —
// equals the one-process run of the same global batch: every rank's parameters are exactly its
// slice of the one-process model's, and 10 iterations' losses (MoE balancing and MTP losses too),
// gradient norms and the validation loss agree within 1e-5 relative (fp32) on every rank. Each
// rank also runs the one-process reference itself (no MPI). Variants named *np4 run on 4
// processes, the others on 2 (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
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
  int pp, tp, vpp;         // the rest of the processes is data parallel
  int micro_batches;       // per data-parallel rank
  std::vector<std::string> extra;
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"dense_pp2", "dense.yaml", 2, 1, 1, 4, {}},
      {"dense_pp2_one_micro_batch", "dense.yaml", 2, 1, 1, 1, {}},
      {"dense_pp2_vpp2", "dense.yaml", 2, 1, 2, 4, {"--num-layers", "4"}},
      {"dense_pp2_vpp2_group3", "dense.yaml", 2, 1, 2, 5,
       {"--num-layers", "4", "--microbatch-group-size-per-virtual-pipeline-stage", "3"}},
      {"dense_pp2_uneven_recompute", "dense.yaml", 2, 1, 1, 3,
       {"--num-layers", "3", "--decoder-first-pipeline-num-layers", "1", "--recompute-granularity", "full",
        "--recompute-method", "uniform"}},
      {"dense_pp2_tied_layernorm", "dense.yaml", 2, 1, 1, 4,
       {"--untie-embeddings-and-output-weights=false", "--normalization", "LayerNorm", "--swiglu=false"}},
      {"dense_pp2_tied_vpp2_distopt", "dense.yaml", 2, 1, 2, 4,
       {"--num-layers", "4", "--untie-embeddings-and-output-weights=false", "--use-distributed-optimizer",
        "--overlap-grad-reduce"}},
      {"mla_pp2_mtp", "mla.yaml", 2, 1, 1, 4, {}},
      {"moe_pp2", "moe.yaml", 2, 1, 1, 4, {}},
      {"dense_pp4_np4", "dense.yaml", 4, 1, 1, 6, {"--num-layers", "4"}},
      {"dense_pp4_vpp2_tied_np4", "dense.yaml", 4, 1, 2, 4,
       {"--num-layers", "8", "--hidden-size", "32", "--ffn-hidden-size", "64", "--num-attention-heads", "2",
        "--num-query-groups", "1", "--kv-channels", "16", "--untie-embeddings-and-output-weights=false"}},
      {"dense_pp2_dp2_distopt_np4", "dense.yaml", 2, 1, 1, 3,
       {"--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"}},
      {"dense_pp2_tp2_sp_tied_np4", "dense.yaml", 2, 2, 1, 4,
       {"--sequence-parallel", "--untie-embeddings-and-output-weights=false"}},
      {"mla_mtp_pp2_tp2_np4", "mla.yaml", 2, 2, 1, 2, {"--sequence-parallel"}},
  };
  return v;
}

class PipelineParallel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    dir_ = fs::temp_directory_path() / ("primus_pp_" + std::to_string(getpid()));
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
                                        "  qk_pos_emb_head_dim: 16\n  v_head_dim: 16\n  num_experts: 4\n"
                                        "  moe_ffn_hidden_size: 32\n  moe_router_topk: 2\n"
                                        "  moe_shared_expert_intermediate_size: 32\n  mtp_num_layers: 1\n"
                                        "  moe_layer_freq: 1\n  expert_tensor_parallel_size: 1\n"
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

TEST_P(PipelineParallel, MatchesTheOneProcessRunOfTheSameGlobalBatch) {
  const Variant& v = GetParam();
  const int world = mpi_->size();
  ASSERT_EQ(world % (v.pp * v.tp), 0) << "run with a multiple of " << v.pp * v.tp << " processes";
  const int dp = world / (v.pp * v.tp);
  const std::string gbs = std::to_string(2 * dp * v.micro_batches);
  std::vector<std::string> overrides = {"--pipeline-model-parallel-size", std::to_string(v.pp),
                                        "--tensor-model-parallel-size", std::to_string(v.tp), "--global-batch-size",
                                        gbs};
  if (v.vpp > 1) overrides.insert(overrides.end(), {"--num-virtual-stages-per-pipeline-rank", std::to_string(v.vpp)});
  const config::ResolvedConfig pp_config = resolve(v, overrides, world);
  // The reference: one process, no pipeline, the same model and global batch.
  std::vector<std::string> one_overrides = {"--global-batch-size", gbs, "--workspace", (dir_ / "ref").string()};
  for (size_t i = 0; i < v.extra.size(); ++i) {
    const std::string& k = v.extra[i];
    const bool pipeline_key = k == "--decoder-first-pipeline-num-layers" ||
                              k == "--microbatch-group-size-per-virtual-pipeline-stage";
    if (pipeline_key || k == "--sequence-parallel") {
      if (pipeline_key) ++i;
      continue;
    }
    one_overrides.push_back(k);
  }
  const config::ResolvedConfig one_config =
      config::resolve(config::ResolveOptions{dir_ / v.experiment, one_overrides, 1});
  auto state = parallel::ParallelState::from_mpi(
      parallel::ProcessGroups(parallel::ParallelSizes::from_args(pp_config.args)), &mpi_->watchdog());
  train::Trainer pp(pp_config, state.get());
  train::Trainer one(one_config);
  ASSERT_EQ(pp.parallel_state().pp().size(), v.pp);
  ASSERT_EQ(pp.model().num_chunks(), v.vpp);

  // The activations held at once never exceed the schedule's bound (1F1B: pp − rank).
  const int rank = pp.parallel_state().pp().rank();
  if (v.vpp == 1) {
    EXPECT_EQ(pp.model().activation_slots(), std::min(v.pp - rank, v.micro_batches));
  }

  // Initial parameters: each rank holds exactly its slice of the one-process tensors.
  std::int64_t compared = 0;
  for (const auto& p : pp.model().layout().params()) {
    const model::ParamInfo* q = one.model().layout().find(p.name);
    ASSERT_NE(q, nullptr) << p.name;
    std::vector<float> global(static_cast<size_t>(p.global_numel()), 0.0f), mine(static_cast<size_t>(p.numel()));
    ASSERT_GE(p.global_rows, q->global_rows) << p.name;
    model::local_to_global(*q, one.model().params() + q->offset, global.data());
    model::global_to_local(p, global.data(), mine.data());
    const std::int64_t cols = p.cols ? p.cols : 1;
    for (std::int64_t r = 0; r < p.rows; ++r) {
      if (p.global_row(r) >= q->global_rows) continue;  // vocabulary padding rows only this layout has
      EXPECT_EQ(std::memcmp(mine.data() + r * cols, pp.model().params() + p.offset + r * cols,
                            static_cast<size_t>(cols) * sizeof(float)),
                0)
          << p.name << " row " << r;
      compared += cols;
    }
  }
  EXPECT_LT(compared, one.model().parameter_count());  // really split

  double worst = 0;
  for (int it = 1; it <= 10; ++it) {
    const train::IterationResult a = pp.train_step(), b = one.train_step();
    EXPECT_NEAR(a.lm_loss, b.lm_loss, 1e-5 * std::abs(b.lm_loss)) << "iteration " << it;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * std::abs(b.grad_norm)) << "iteration " << it;
    ASSERT_EQ(a.aux_losses.size(), b.aux_losses.size());
    for (size_t k = 0; k < a.aux_losses.size(); ++k)
      EXPECT_NEAR(a.aux_losses[k], b.aux_losses[k], 1e-5 * std::abs(b.aux_losses[k]) + 1e-9)
          << "iteration " << it << " aux " << k;
    worst = std::max({worst, std::abs(a.lm_loss - b.lm_loss) / std::abs(b.lm_loss),
                      std::abs(a.grad_norm - b.grad_norm) / std::abs(b.grad_norm)});
  }
  // The parameters after 10 steps: the shared embedding copies stayed equal, and match.
  pp.finish_parameter_sync();
  one.finish_parameter_sync();
  double param_worst = 0;
  for (const auto& p : pp.model().layout().params()) {
    const model::ParamInfo* q = one.model().layout().find(p.name);
    std::vector<float> global(static_cast<size_t>(p.global_numel()), 0.0f), mine(static_cast<size_t>(p.numel()));
    model::local_to_global(*q, one.model().params() + q->offset, global.data());
    model::global_to_local(p, global.data(), mine.data());
    const std::int64_t cols = p.cols ? p.cols : 1;
    for (std::int64_t r = 0; r < p.rows; ++r) {
      if (p.global_row(r) >= q->global_rows) continue;
      for (std::int64_t j = 0; j < cols; ++j) {
        const float x = pp.model().params()[p.offset + r * cols + j], y = mine[static_cast<size_t>(r * cols + j)];
        param_worst = std::max(param_worst, static_cast<double>(std::abs(x - y)));
      }
    }
  }
  EXPECT_LT(param_worst, 1e-4);
  const auto ea = pp.evaluate(), eb = one.evaluate();
  ASSERT_TRUE(ea && eb);
  EXPECT_NEAR(ea->lm_loss, eb->lm_loss, 1e-5 * std::abs(eb->lm_loss));
  if (mpi_->rank() == 0)
    std::printf("[ %s, %d processes ] vs one process over 10 iterations: largest relative difference %.2g, "
                "parameters %.2g\n",
                v.name, world, worst, param_worst);
}

INSTANTIATE_TEST_SUITE_P(Variants, PipelineParallel, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
