// `primus` across processes as users launch it (mpirun, examples/run_pretrain.sh): the launcher
// trains on 2 processes with the losses of 1; failures end every rank quickly with the failing
// rank's message — an error on one rank, the same error on every rank, a rank that stops
// answering, a launch with the wrong process count; `primus parallel layout` prints the groups.
// Every command runs under `timeout`, so a hang fails the test instead of stalling CI.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/indexed_dataset_writer.hpp"
#include "parallel/process_groups.hpp"

namespace {

namespace fs = std::filesystem;

const std::string kBinary = PRIMUS_BINARY;
const std::string kSource = PRIMUS_SOURCE_DIR;
// One machine as root, OpenMP single-threaded per rank (OpenMPI's own allocations are muted for
// LeakSanitizer by the binary itself: parallel/mpi_runtime.cpp).
const std::string kEnv =
    "OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
    "OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1 ";
const std::string kMpirun = "mpirun --oversubscribe --bind-to none ";

struct Outcome {
  int status = -1;  // exit code; 124: the timeout hit
  std::string out;  // stdout and stderr
  double seconds = 0;
};

Outcome run(const std::string& command, int timeout_seconds) {
  const std::string cmd = kEnv + "timeout -k 5 " + std::to_string(timeout_seconds) + " bash -c '" + command + "' 2>&1";
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(cmd.c_str(), "r");
  Outcome r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// "lm loss: X" of every iteration line, in order.
std::vector<double> losses(const std::string& text) {
  std::vector<double> out;
  const std::regex re(R"(iteration +\d+/ +\d+ \|.*? lm loss: ([0-9.E+-]+) \|)");
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) out.push_back(std::stod((*it)[1]));
  return out;
}

// "[path]" (built piecewise: GCC 12 warns spuriously on "[" + std::string&&).
std::string yaml_list(const fs::path& path) {
  std::string out = "[";
  out += path.string();
  out += "]";
  return out;
}

class Launch : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("primus_launch_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A tiny experiment; `extra` adds or replaces overrides.
  std::string experiment(const std::map<std::string, std::string>& extra = {}) {
    std::map<std::string, std::string> o = {
        {"num_layers", "2"}, {"hidden_size", "64"}, {"ffn_hidden_size", "128"}, {"num_attention_heads", "4"},
        {"num_query_groups", "2"}, {"seq_length", "32"}, {"max_position_embeddings", "64"},
        {"micro_batch_size", "2"}, {"global_batch_size", "8"}, {"train_iters", "10"}, {"lr", "3.0e-3"},
        {"min_lr", "3.0e-4"}, {"lr_warmup_iters", "2"}, {"eval_interval", "10"}, {"eval_iters", "1"},
        {"log_interval", "1"}, {"tokenizer_type", "NullTokenizer"}, {"tokenizer_model", "null"},
        {"vocab_size", "255"}, {"bf16", "false"}, {"workspace", (dir_ / "runs").string()}};
    for (const auto& [k, v] : extra) o[k] = v;
    const fs::path path = dir_ / "exp.yaml";
    std::ofstream f(path);
    f << "model: tiny_llama.yaml\noverrides:\n";
    for (const auto& [k, v] : o) f << "  " << k << ": " << v << "\n";
    return path.string();
  }

  fs::path dir_;
};

TEST_F(Launch, LauncherTrainsOnTwoProcessesLikeOne) {
  const std::string exp = experiment({{"mock_data", "true"}});
  const Outcome one = run(kBinary + " train pretrain --config " + exp, 120);
  ASSERT_EQ(one.status, 0) << one.out;
  const Outcome two = run("EXP=" + exp + " GPUS_PER_NODE=2 TRAIN_LOG=" + (dir_ / "train.log").string() + " bash " + kSource +
                          "/examples/run_pretrain.sh --overlap-grad-reduce",
                      180);
  ASSERT_EQ(two.status, 0) << two.out;
  EXPECT_NE(two.out.find("launching: mpirun -np 2"), std::string::npos) << two.out;
  const auto a = losses(one.out), b = losses(two.out);
  ASSERT_EQ(a.size(), 10u) << one.out;
  ASSERT_EQ(b.size(), 10u) << two.out;  // printed once, by the last rank
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 2e-6 * a[i]) << "iteration " << i + 1;
  EXPECT_NE(two.out.find("[rank-1/2]"), std::string::npos);
  EXPECT_EQ(two.out.find("[rank-0/2]"), std::string::npos) << "only the last rank prints";
  // Every rank keeps its own log files; the launcher keeps a copy of the output.
  const fs::path logs = dir_ / "runs/amd/root/primus-experiment/logs/pre_trainer";
  EXPECT_TRUE(fs::exists(logs / "rank-0/info.log"));
  EXPECT_TRUE(fs::exists(logs / "rank-1/info.log"));
  EXPECT_TRUE(fs::exists(dir_ / "train.log"));
}

TEST_F(Launch, AnErrorOnOneRankEndsEveryRankWithItsMessage) {
  // A corpus of one long document with one token outside the vocabulary: exactly one sample holds
  // it, and the one rank that reads it fails mid-training.
  std::vector<std::int32_t> doc(3000);
  for (std::size_t i = 0; i < doc.size(); ++i) doc[i] = static_cast<std::int32_t>(1 + i * 7 % 250);
  doc[1005] = 5000;
  {
    primus::data::IndexedDatasetWriter w((dir_ / "corpus").string(), primus::data::TokenDType::kInt32);
    w.add_document(doc);
    w.finalize();
  }
  const std::string exp = experiment({{"data_path", yaml_list(dir_ / "corpus")},
                                      {"split", "100,0,0"},
                                      {"eval_iters", "0"},
                                      {"train_iters", "30"}});
  const Outcome r = run(kMpirun + "-np 2 " + kBinary + " train pretrain --config " + exp, 90);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.status, 124) << "timed out: " << r.out;
  EXPECT_LT(r.seconds, 60.0);
  const std::regex message(R"(primus: error: \[rank [01]/2\] training data, sample \d+: token id 5000 is outside )"
                           R"(the vocabulary of \d+ tokens)");
  EXPECT_TRUE(std::regex_search(r.out, message)) << r.out;
  EXPECT_EQ(count(r.out, "token id 5000"), 1) << "one rank failed, one message: " << r.out;
  // It came mid-training: the ranks' own logs (stdout may be cut short by the abort) show iterations.
  std::ifstream log(dir_ / "runs/amd/root/primus-experiment/logs/pre_trainer/rank-0/info.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("iteration        1/"), std::string::npos) << text;
}

TEST_F(Launch, TheSameErrorOnEveryRankIsPrintedOnce) {
  const std::string exp = experiment({{"data_path", yaml_list(dir_ / "missing")}});
  const Outcome r = run(kMpirun + "-np 2 " + kBinary + " train pretrain --config " + exp, 90);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(count(r.out, "primus: error:"), 1) << r.out;
  EXPECT_NE(r.out.find((dir_ / "missing").string()), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[rank "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("MPI_ABORT"), std::string::npos) << "agreed errors end without an abort: " << r.out;
}

TEST_F(Launch, AStoppedRankIsCaughtByTheCollectiveTimeout) {
  // Rank 0 freezes (SIGSTOP) once its log shows iteration 3; rank 1 then waits in a collective
  // until distributed_timeout_seconds_after_init (3 s) aborts the run.
  const std::string exp = experiment({{"mock_data", "true"},
                                      {"train_iters", "1000"},
                                      {"eval_iters", "0"},
                                      {"distributed_timeout_minutes", "1"},
                                      {"distributed_timeout_seconds_after_init", "3"}});
  const fs::path log = dir_ / "runs/amd/root/primus-experiment/logs/pre_trainer/rank-0/info.log";
  std::ofstream(dir_ / "freeze.sh") << "#!/bin/bash\n"
                                       "if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then\n"
                                       "  ( while ! grep -q \"iteration        3/\" " + log.string() +
                                           " 2>/dev/null; do sleep 0.05; done; kill -STOP $$ ) &\n"
                                       "fi\n"
                                       "exec \"$@\"\n";
  const Outcome r = run(kMpirun + "-np 2 bash " + (dir_ / "freeze.sh").string() + " " + kBinary +
                        " train pretrain --config " + exp,
                    120);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.status, 124) << "timed out: " << r.out;
  EXPECT_NE(r.out.find("primus: error: [rank 1/2]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did not complete within 3 s (distributed_timeout_seconds_after_init): another rank stopped "
                       "answering or failed; aborting the run"),
            std::string::npos)
      << r.out;
  EXPECT_LT(r.seconds, 90.0);
}

TEST_F(Launch, AWrongProcessCountSaysHowToLaunch) {
  const std::string exp = experiment({{"mock_data", "true"}});
  // 3 processes cannot split a global batch of 8 in micro-batches of 2.
  const Outcome three = run(kMpirun + "-np 3 " + kBinary + " train pretrain --config " + exp, 90);
  EXPECT_EQ(three.status, 2) << three.out;
  EXPECT_EQ(count(three.out, "primus: error:"), 1) << three.out;
  EXPECT_NE(three.out.find("must be a multiple of micro_batch_size × data parallel size = 2 × 3 = 6"),
            std::string::npos)
      << three.out;
  // A launcher that is not MPI's (torchrun sets WORLD_SIZE) gets one line naming mpirun.
  const Outcome torchrun = run("WORLD_SIZE=4 " + kBinary + " train pretrain --config " + exp, 60);
  EXPECT_EQ(torchrun.status, 2) << torchrun.out;
  EXPECT_NE(torchrun.out.find("the environment says WORLD_SIZE=4 but MPI started 1 process; primus runs under mpirun "
                              "or srun, e.g. 'mpirun -np 4 build/primus train pretrain ...'"),
            std::string::npos)
      << torchrun.out;
  // The launcher refuses what it cannot start.
  const Outcome nodes = run("EXP=" + exp + " NNODES=2 GPUS_PER_NODE=1 bash " + kSource + "/examples/run_pretrain.sh", 30);
  EXPECT_EQ(nodes.status, 1) << nodes.out;
  EXPECT_NE(nodes.out.find("NNODES=2: set HOSTFILE"), std::string::npos) << nodes.out;
}

TEST(ParallelLayout, JsonListsRanksAndEveryGroup) {
  const std::string exp = kSource + "/examples/megatron/configs/tiny_mixtral-pretrain.yaml";
  const Outcome r = run(kBinary + " parallel layout --config " + exp +
                        " --world-size 8 --tensor-model-parallel-size 2 --expert-model-parallel-size 2 "
                        "--global-batch-size 64 --format json 2>/dev/null",
                    30);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["world_size"], 8);
  EXPECT_EQ(j["order"], "tp-cp-ep-dp-pp");
  ASSERT_EQ(j["ranks"].size(), 8u);
  EXPECT_EQ(j["ranks"][3], (nlohmann::json{{"rank", 3}, {"tp", 1}, {"cp", 0}, {"dp", 1}, {"pp", 0}, {"ep", 1},
                                           {"expert_tp", 1}, {"expert_dp", 0}}));
  for (const char* name : {"tp", "pp", "dp", "cp", "dp_cp", "mp", "tp_cp", "tp_dp", "tp_dp_cp", "ep", "expert_tp",
                           "expert_dp", "expert_tp_ep", "expert_mp"})
    EXPECT_TRUE(j["groups"].contains(name)) << name;
  EXPECT_EQ(j["groups"]["tp"], (nlohmann::json{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(j["groups"]["ep"], (nlohmann::json{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(j["groups"]["expert_dp"], (nlohmann::json{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  // Same groups as the library computes (whose rule tests/parallel/process_groups_test.cpp checks).
  const primus::parallel::ProcessGroups pg(primus::parallel::ParallelSizes{8, 2, 1, 1, 2, 2, false});
  for (primus::parallel::GroupKind k : primus::parallel::all_group_kinds())
    EXPECT_EQ(j["groups"][std::string(primus::parallel::group_name(k))], nlohmann::json(pg.groups(k)));
}

// The pipeline stages as training splits them: interleaved, 2 ranks × 2 chunks of 1 layer each.
TEST(ParallelLayout, PipelineStagesListTheirLayers) {
  const std::string exp = kSource + "/examples/megatron/configs/tiny_llama-pretrain.yaml";
  const Outcome r = run(kBinary + " parallel layout --config " + exp +
                            " --world-size 2 --pipeline-model-parallel-size 2 --num-layers 4 "
                            "--num-virtual-stages-per-pipeline-rank 2 --global-batch-size 8 --format json 2>/dev/null",
                        30);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["pipeline_stages"].size(), 4u);
  EXPECT_EQ(j["pipeline_stages"][0], (nlohmann::json{{"pp", 0}, {"chunk", 0}, {"first_layer", 0}, {"num_layers", 1},
                                                     {"embedding", true}, {"loss", false}, {"mtp_layers", 0}}));
  EXPECT_EQ(j["pipeline_stages"][2]["first_layer"], 2);  // virtual stage 2: rank 0's second chunk
  EXPECT_EQ(j["pipeline_stages"][2]["pp"], 0);
  EXPECT_EQ(j["pipeline_stages"][3]["loss"], true);
  const Outcome text = run(kBinary + " parallel layout --config " + exp +
                               " --world-size 2 --pipeline-model-parallel-size 2 --num-layers 3 "
                               "--decoder-first-pipeline-num-layers 1 --global-batch-size 8 2>/dev/null",
                           30);
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find("  pp 0: embedding, decoder layer 0\n  pp 1: decoder layers 1-2, final norm, output layer "
                          "and loss\n"),
            std::string::npos)
      << text.out;
}

TEST(ParallelLayout, TextTableAndInvalidLayouts) {
  const std::string exp = kSource + "/examples/megatron/configs/tiny_llama-pretrain.yaml";
  const Outcome text = run(kBinary + " parallel layout --config " + exp +
                           " --world-size 4 --use-tp-pp-dp-mapping --pipeline-model-parallel-size 2 --num-layers 4 "
                           "--global-batch-size 8 2>/dev/null",
                       30);
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find("order tp-cp-ep-pp-dp"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  rank   tp   cp   dp   pp"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  pp                 [0,1] [2,3]"), std::string::npos) << text.out;
  const Outcome bad = run(kBinary + " parallel layout --config " + exp + " --world-size 6 --tensor-model-parallel-size 4", 30);
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("primus: error: world size 6 is not divisible by tensor × pipeline × context parallel"),
            std::string::npos)
      << bad.out;
}

}  // namespace
