// Context parallelism on 2 or 4 real processes.
//  * Ring attention: each rank's queries attend over the whole sequence through the K/V ring and
//    give exactly the tiled kernel's result on the whole sequence at its positions (out, lse, dq,
//    dk, dv), for chunks shorter and longer than the kernel's 64-token tile, GQA and a v head dim
//    that differs from the q/k one (MLA).
//  * Training: CP 2 (dense GQA, MLA with multi-token prediction, MoE), CP 4, CP 2 × TP 2 with sequence parallelism and CP 2 ×
//    DP 2 with the distributed optimizer equal the one-process run of the same global batch: the
//    initial parameters bit for bit, 10 iterations' losses and gradient norms within 1e-5
//    relative (fp32), and the validation loss.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "kernels/attention.hpp"
#include "model/context_parallel_attention.hpp"
#include "model/weights_io.hpp"
#include "parallel/context_parallel.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

using namespace primus;

namespace {

namespace fs = std::filesystem;

struct RingCase {
  std::int64_t batch, chunk, heads, groups, head_dim, v_head_dim;
};

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

TEST(ContextParallelAttention, RingEqualsTheKernelOnTheWholeSequence) {
  parallel::MpiRuntime* mpi = parallel::MpiRuntime::current();
  parallel::ParallelSizes sizes;
  sizes.world = mpi->size();
  sizes.cp = mpi->size();
  auto state = parallel::ParallelState::from_mpi(parallel::ProcessGroups(sizes), &mpi->watchdog());
  const int cp = state->cp().size(), r = state->cp().rank();
  ASSERT_EQ(cp, mpi->size());
  model::ModelParallel mp;
  mp.cp = &state->cp();
  for (const RingCase& c : {RingCase{2, 24, 4, 2, 16, 16}, RingCase{1, 80, 2, 1, 32, 16}, RingCase{2, 8, 2, 2, 16, 32}}) {
    const std::int64_t S = 2 * cp * c.chunk, L = S / cp, B = c.batch, H = c.heads, G = c.groups, dk = c.head_dim,
                       dv = c.v_head_dim;
    kernels::AttentionShape whole;
    whole.batch = B;
    whole.seq = S;
    whole.heads = H;
    whole.groups = G;
    whole.head_dim = dk;
    whole.v_head_dim = dv;
    // Every rank draws the same whole-sequence tensors.
    const auto q = random_vector(static_cast<size_t>(B * S * H * dk), 1), k = random_vector(static_cast<size_t>(B * S * G * dk), 2),
               v = random_vector(static_cast<size_t>(B * S * G * dv), 3),
               dout = random_vector(static_cast<size_t>(B * S * H * dv), 4);
    std::vector<float> out(static_cast<size_t>(B * S * H * dv)), lse(static_cast<size_t>(B * H * S)),
        dq(q.size()), dk_(k.size()), dv_(v.size());
    {
      std::vector<float> ws(std::max(kernels::attention_forward_workspace(whole, 1),
                                     kernels::attention_backward_workspace(whole, 1)));
      kernels::attention_forward(whole, q.data(), k.data(), v.data(), out.data(), lse.data(), ws.data(), ws.size());
      kernels::attention_backward(whole, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(), dq.data(),
                                  dk_.data(), dv_.data(), ws.data(), ws.size());
    }
    // This rank's chunks, through the ring.
    auto slice = [&](const std::vector<float>& full, std::int64_t width) {
      std::vector<float> local(static_cast<size_t>(B * L * width));
      parallel::context_parallel_slice(full.data(), local.data(), B, S, width, cp, r);
      return local;
    };
    const auto lq = slice(q, H * dk), lk = slice(k, G * dk), lv = slice(v, G * dv), ldout = slice(dout, H * dv);
    kernels::AttentionShape local = whole;
    local.seq = L;
    model::BufferPlan plan;
    const model::ContextParallelAttention attention(local, mp, plan);
    std::vector<float> scratch(static_cast<size_t>(plan.total()));
    const model::StageWeights weights;
    const model::LinearScratch linear;
    const model::MicroBatchState micro;
    const model::BlockCall call{weights, B, L, nullptr, scratch.data(), linear, micro};
    std::vector<float> lout(static_cast<size_t>(B * L * H * dv)), llse(static_cast<size_t>(B * H * L)), ldq(lq.size()),
        ldk(lk.size()), ldv(lv.size());
    attention.forward(call, lq.data(), lk.data(), lv.data(), lout.data(), llse.data());
    attention.backward(call, lq.data(), lk.data(), lv.data(), lout.data(), llse.data(), ldout.data(), ldq.data(),
                       ldk.data(), ldv.data());

    const auto pos = parallel::context_parallel_positions(S, cp, r);
    double worst = 0;
    auto expect_rows = [&](const std::vector<float>& mine, const std::vector<float>& ref, std::int64_t width,
                           const char* what) {
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t s = 0; s < L; ++s)
          for (std::int64_t x = 0; x < width; ++x) {
            const float got = mine[static_cast<size_t>((b * L + s) * width + x)];
            const float want = ref[static_cast<size_t>((b * S + pos[static_cast<size_t>(s)]) * width + x)];
            worst = std::max(worst, static_cast<double>(std::abs(got - want)));
            ASSERT_NEAR(got, want, 2e-5 * std::max(1.0f, std::abs(want)))
                << what << " b " << b << " position " << pos[static_cast<size_t>(s)] << " column " << x << " (cp " << cp
                << ", chunk " << c.chunk << ")";
          }
    };
    expect_rows(lout, out, H * dv, "out");
    expect_rows(ldq, dq, H * dk, "dq");
    expect_rows(ldk, dk_, G * dk, "dk");
    expect_rows(ldv, dv_, G * dv, "dv");
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t s = 0; s < L; ++s)
          ASSERT_NEAR(llse[static_cast<size_t>((b * H + h) * L + s)],
                      lse[static_cast<size_t>((b * H + h) * S + pos[static_cast<size_t>(s)])], 2e-5)
              << "lse b " << b << " head " << h << " position " << pos[static_cast<size_t>(s)];
    if (r == 0)
      std::printf("[ ring attention, cp %d, chunk %lld ] largest difference to the whole-sequence kernel %.2g\n", cp,
                  static_cast<long long>(c.chunk), worst);
  }
}

struct Variant {
  const char* name;
  const char* experiment;  // dense.yaml | mla.yaml | moe.yaml
  int cp, tp;              // the rest of the processes is data parallel
  std::vector<std::string> extra;
};

std::ostream& operator<<(std::ostream& os, const Variant& v) { return os << v.name; }

// Which run on 2 and which on 4 processes: tests/CMakeLists.txt.
const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"cp2_dense", "dense.yaml", 2, 1, {}},
      {"cp2_moe", "moe.yaml", 2, 1, {}},
      {"cp2_mla_mtp", "mla.yaml", 2, 1, {"--mtp-num-layers", "2"}},
      {"cp2_dense_recompute_bias_qknorm", "dense.yaml", 2, 1,
       {"--recompute-granularity", "full", "--recompute-method", "uniform", "--add-bias-linear", "--qk-layernorm"}},
      {"cp4_dense", "dense.yaml", 4, 1, {}},
      {"cp2_tp2_sp", "dense.yaml", 2, 2, {"--sequence-parallel"}},
      {"cp2_dp2_distopt", "dense.yaml", 2, 1, {"--use-distributed-optimizer", "--overlap-grad-reduce"}},
  };
  return v;
}

class ContextParallel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    mpi_ = parallel::MpiRuntime::current();
    dir_ = fs::temp_directory_path() / ("primus_cp_" + std::to_string(getpid()));
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
                                        "  moe_shared_expert_intermediate_size: null\n  mtp_num_layers: null\n"
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

TEST_P(ContextParallel, MatchesTheOneProcessRunOfTheSameGlobalBatch) {
  const Variant& v = GetParam();
  const int world = mpi_->size();
  ASSERT_EQ(world % (v.cp * v.tp), 0) << "run with a multiple of " << v.cp * v.tp << " processes (tests/CMakeLists.txt)";
  const int dp = world / (v.cp * v.tp);
  const std::string global_batch = std::to_string(2 * dp);
  const config::ResolvedConfig cp_config =
      resolve(v,
              {"--context-parallel-size", std::to_string(v.cp), "--tensor-model-parallel-size", std::to_string(v.tp),
               "--global-batch-size", global_batch},
              world);
  const config::ResolvedConfig one_config =
      resolve(v, {"--global-batch-size", global_batch, "--workspace", (dir_ / "ref").string()}, 1);
  auto state = parallel::ParallelState::from_mpi(
      parallel::ProcessGroups(parallel::ParallelSizes::from_args(cp_config.args)), &mpi_->watchdog());
  train::Trainer cp(cp_config, state.get());
  train::Trainer one(one_config);
  ASSERT_EQ(cp.parallel_state().cp().size(), v.cp);
  ASSERT_EQ(cp.model().local_seq(), 32 / v.cp);

  // Initial parameters: each rank's (tensor-parallel) shard is exactly its slice of the
  // one-process tensors; context-parallel ranks hold the whole layer.
  for (const auto& p : cp.model().layout().params()) {
    const model::ParamInfo* q = one.model().layout().find(p.name);
    ASSERT_NE(q, nullptr) << p.name;
    ASSERT_EQ(p.global_cols, q->global_cols) << p.name;
    std::vector<float> global(static_cast<size_t>(std::max(p.global_numel(), q->global_numel())), 0.0f),
        mine(static_cast<size_t>(p.numel()));
    model::local_to_global(*q, one.model().params() + q->offset, global.data());
    model::global_to_local(p, global.data(), mine.data());
    const std::int64_t cols = p.cols ? p.cols : 1;
    for (std::int64_t r = 0; r < p.rows; ++r) {
      if (p.global_row(r) >= q->global_rows) continue;  // vocabulary padding rows only this layout has
      EXPECT_EQ(std::memcmp(mine.data() + r * cols, cp.model().params() + p.offset + r * cols,
                            static_cast<size_t>(cols) * sizeof(float)),
                0)
          << p.name << " row " << r;
    }
  }

  double worst = 0;
  for (int it = 1; it <= 10; ++it) {
    const train::IterationResult a = cp.train_step(), b = one.train_step();
    EXPECT_NEAR(a.lm_loss, b.lm_loss, 1e-5 * std::abs(b.lm_loss)) << "iteration " << it;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * std::abs(b.grad_norm)) << "iteration " << it;
    ASSERT_EQ(a.aux_losses.size(), b.aux_losses.size());
    for (size_t k = 0; k < a.aux_losses.size(); ++k)
      EXPECT_NEAR(a.aux_losses[k], b.aux_losses[k], 1e-5 * std::abs(b.aux_losses[k]) + 1e-9)
          << "iteration " << it << " aux " << k;
    worst = std::max({worst, std::abs(a.lm_loss - b.lm_loss) / std::abs(b.lm_loss),
                      std::abs(a.grad_norm - b.grad_norm) / std::abs(b.grad_norm)});
  }
  const auto ea = cp.evaluate(), eb = one.evaluate();
  ASSERT_TRUE(ea && eb);
  EXPECT_NEAR(ea->lm_loss, eb->lm_loss, 1e-5 * std::abs(eb->lm_loss));
  if (mpi_->rank() == 0)
    std::printf("[ %s, %d processes ] vs one process over 10 iterations: largest relative difference %.2g\n", v.name,
                world, worst);
}

INSTANTIATE_TEST_SUITE_P(Variants, ContextParallel, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
