// Expert parallelism on 2 or 4 processes equals the one-process run of the same global batch: each
// rank holds exactly the one-process model's experts e ∈ [ep_rank·E/ep, (ep_rank+1)·E/ep) under their
// global names (bit for bit at initialisation) and every dense parameter, and 10 iterations' losses
// (lm, load-balancing, z-loss, MTP), gradient norms, the final validation loss and the routers'
// expert biases agree within 1e-5 relative (fp32) — for the all-to-all and the all-gather
// dispatchers, EP 2 and 4, EP × DP (expert gradients reduced over the expert-data-parallel group,
// with and without the distributed optimizer), EP × TP with sequence parallelism, a DeepSeek-V3-
// shaped model (MLA, shared experts, sigmoid group-limited routing, expert bias, MTP), token
// dropping with and without padding to capacity, and expert tensor parallelism (each expert split
// over 2 ranks; alone and with EP × TP). Each rank also runs the one-process reference.
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
  const char* experiment;  // moe.yaml | deepseek.yaml
  int ep;
  int tp;                  // the rest of the processes is data parallel
  const char* dispatcher;  // alltoall | allgather
  std::vector<std::string> extra;
  int micro_batches_per_rank = 2;
  int etp = 1;             // expert_tensor_parallel_size
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      // 2 processes
      {"ep2_alltoall", "moe.yaml", 2, 1, "alltoall", {}},
      {"ep2_allgather", "moe.yaml", 2, 1, "allgather", {}},
      {"ep2_alltoall_deepseek", "deepseek.yaml", 2, 1, "alltoall", {"--use-distributed-optimizer"}},
      {"ep2_alltoall_capacity_drop", "moe.yaml", 2, 1, "alltoall",
       {"--moe-expert-capacity-factor", "0.5", "--moe-token-drop-policy", "position"}},
      {"ep2_allgather_capacity_pad", "moe.yaml", 2, 1, "allgather",
       {"--moe-expert-capacity-factor", "0.75", "--moe-pad-expert-input-to-capacity", "--add-bias-linear"}},
      {"etp2_ep1_deepseek", "deepseek.yaml", 1, 1, "alltoall", {}, 2, 2},
      // 4 processes (one micro-batch per rank, except with the distributed optimizer's overlap)
      {"ep4_alltoall", "moe.yaml", 4, 1, "alltoall", {}, 1},
      {"ep4_allgather_deepseek", "deepseek.yaml", 4, 1, "allgather", {}, 1},
      {"ep2_dp2_alltoall", "moe.yaml", 2, 1, "alltoall", {"--use-distributed-optimizer=false"}, 1},
      {"ep2_dp2_alltoall_distopt", "deepseek.yaml", 2, 1, "alltoall",
       {"--use-distributed-optimizer", "--overlap-grad-reduce"}},
      {"ep2_tp2_sp_alltoall", "moe.yaml", 2, 2, "alltoall", {"--sequence-parallel"}, 1},
      {"ep2_tp2_sp_allgather_deepseek", "deepseek.yaml", 2, 2, "allgather", {"--sequence-parallel"}, 1},
      {"ep2_tp2_sp_etp2_alltoall", "moe.yaml", 2, 2, "alltoall", {"--sequence-parallel"}, 1, 2},
  };
  return v;
}

class ExpertParallel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    dir_ = fs::temp_directory_path() / ("primus_ep_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const std::string common = "  seq_length: 32\n  micro_batch_size: 2\n  train_iters: 10\n"
                               "  lr: 3.0e-3\n  min_lr: 3.0e-4\n  lr_warmup_iters: 2\n"
                               "  eval_interval: 10\n  eval_iters: 1\n  log_interval: 5\n"
                               "  tokenizer_type: NullTokenizer\n  tokenizer_model: null\n  vocab_size: 255\n"
                               "  mock_data: true\n  bf16: false\n  init_method_std: 0.05\n"
                               "  expert_tensor_parallel_size: 1\n  workspace: " +
                               (dir_ / "runs").string() + "\n";
    std::ofstream(dir_ / "moe.yaml") << "model: tiny_mixtral.yaml\noverrides:\n"
                                        "  num_layers: 2\n  hidden_size: 64\n  ffn_hidden_size: 128\n"
                                        "  num_attention_heads: 4\n  num_query_groups: 2\n  num_experts: 8\n"
                                        "  moe_ffn_hidden_size: 32\n"
                                        "  moe_router_topk: 2\n  moe_aux_loss_coeff: 0.01\n  moe_z_loss_coeff: 0.001\n"
                                        "  moe_shared_expert_intermediate_size: 64\n  moe_shared_expert_gate: true\n"
                                     << common;
    std::ofstream(dir_ / "deepseek.yaml") << "model: tiny_deepseek_v3.yaml\noverrides:\n"
                                             "  num_layers: 2\n  moe_layer_freq: ([0]*1+[1]*1)\n"
                                             "  hidden_size: 64\n  ffn_hidden_size: 128\n  num_attention_heads: 4\n"
                                             "  q_lora_rank: 32\n  kv_lora_rank: 32\n  qk_head_dim: 16\n"
                                             "  qk_pos_emb_head_dim: 16\n  v_head_dim: 16\n  kv_channels: 16\n"
                                             "  moe_ffn_hidden_size: 32\n  moe_shared_expert_intermediate_size: 64\n"
                                             "  moe_router_bias_update_rate: 0.01\n"
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

TEST_P(ExpertParallel, MatchesTheOneProcessRunOfTheSameGlobalBatch) {
  const Variant& v = GetParam();
  const int world = mpi_->size();
  ASSERT_EQ(world % (v.ep * v.tp), 0) << "see tests/CMakeLists.txt for the process counts";
  ASSERT_EQ(world % (v.ep * v.etp), 0) << "see tests/CMakeLists.txt for the process counts";
  const int dp = world / v.tp;  // dense data parallel (expert parallelism comes out of it)
  const std::string gbs = std::to_string(2 * v.micro_batches_per_rank * dp);
  std::vector<std::string> overrides = {"--expert-model-parallel-size", std::to_string(v.ep),
                                        "--tensor-model-parallel-size", std::to_string(v.tp),
                                        "--moe-token-dispatcher-type",  v.dispatcher,
                                        "--expert-tensor-parallel-size", std::to_string(v.etp),
                                        "--global-batch-size",          gbs};
  const config::ResolvedConfig ep_config = resolve(v, overrides, world);
  const config::ResolvedConfig one_config =
      resolve(v, {"--global-batch-size", gbs, "--sequence-parallel=false", "--workspace", (dir_ / "ref").string()}, 1);
  auto state = parallel::ParallelState::from_mpi(
      parallel::ProcessGroups(parallel::ParallelSizes::from_args(ep_config.args)), &mpi_->watchdog());
  train::Trainer ep(ep_config, state.get());
  train::Trainer one(one_config);
  ASSERT_EQ(ep.parallel_state().ep().size(), v.ep);
  ASSERT_EQ(ep.parallel_state().group(parallel::GroupKind::ExpertTensorParallel).size(), v.etp);

  // Initial parameters: this rank's slice of every one-process tensor it holds, and only its experts.
  const std::int64_t experts = ep_config.args.num_experts.value_or(0), local = experts / v.ep;
  const int ep_rank = ep.parallel_state().ep().rank();
  std::int64_t compared = 0, expert_params = 0;
  for (const auto& p : ep.model().layout().params()) {
    const model::ParamInfo* q = one.model().layout().find(p.name);
    ASSERT_NE(q, nullptr) << p.name;
    if (p.group == model::ParamGroup::Expert) {
      ++expert_params;
      const auto at = p.name.find("local_experts.");
      ASSERT_NE(at, std::string::npos) << p.name;
      const std::int64_t e = std::stoll(p.name.substr(at + 14));
      EXPECT_GE(e, ep_rank * local) << p.name;
      EXPECT_LT(e, (ep_rank + 1) * local) << p.name;
    }
    std::vector<float> global(static_cast<size_t>(q->global_numel()), 0.0f), mine(static_cast<size_t>(p.numel()));
    model::local_to_global(*q, one.model().params() + q->offset, global.data());
    const std::int64_t cols = p.cols ? p.cols : 1;
    if (p.global_rows != q->global_rows) continue;  // vocabulary padded for TP: compared by the TP test
    model::global_to_local(p, global.data(), mine.data());
    EXPECT_EQ(std::memcmp(mine.data(), ep.model().params() + p.offset, static_cast<size_t>(p.numel()) * sizeof(float)),
              0)
        << p.name;
    compared += p.rows * cols;
  }
  EXPECT_GT(expert_params, 0);
  EXPECT_LT(compared, one.model().parameter_count());  // really split

  double worst = 0;
  for (int it = 1; it <= 10; ++it) {
    const train::IterationResult a = ep.train_step(), b = one.train_step();
    EXPECT_NEAR(a.lm_loss, b.lm_loss, 1e-5 * std::abs(b.lm_loss)) << "iteration " << it;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * std::abs(b.grad_norm)) << "iteration " << it;
    ASSERT_EQ(a.aux_losses.size(), b.aux_losses.size());
    for (size_t k = 0; k < a.aux_losses.size(); ++k)
      EXPECT_NEAR(a.aux_losses[k], b.aux_losses[k], 1e-5 * std::abs(b.aux_losses[k]) + 1e-9)
          << "iteration " << it << " aux " << k;
    worst = std::max({worst, std::abs(a.lm_loss - b.lm_loss) / std::abs(b.lm_loss),
                      std::abs(a.grad_norm - b.grad_norm) / std::abs(b.grad_norm)});
  }
  const auto ea = ep.evaluate(), eb = one.evaluate();
  ASSERT_TRUE(ea && eb);
  EXPECT_NEAR(ea->lm_loss, eb->lm_loss, 1e-5 * std::abs(eb->lm_loss));
  // The expert biases (updated from the global batch's token counts) are the same on every rank.
  const auto& mine = ep.model().moe_layers(), ref = one.model().moe_layers();
  ASSERT_EQ(mine.size(), ref.size());
  for (size_t l = 0; l < mine.size(); ++l)
    EXPECT_EQ(mine[l].second->router().expert_bias(), ref[l].second->router().expert_bias()) << mine[l].first;
  // The exchange carried rows to the other ranks.
  if (v.ep > 1) {
    std::int64_t sent = 0;
    for (const auto& [name, layer] : mine) {
      ASSERT_NE(layer->exchange(), nullptr) << name;
      sent += layer->exchange()->volume().dispatch_hidden_bytes;
    }
    EXPECT_GT(sent, 0);
  }
  if (mpi_->rank() == 0)
    std::printf("[ %s, %d processes ] vs one process over 10 iterations: largest relative difference %.2g\n", v.name,
                world, worst);
}

INSTANTIATE_TEST_SUITE_P(Variants, ExpertParallel, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
