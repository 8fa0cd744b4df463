// The `primus` binary end to end: `migrate megatron-lm` writes files that `config show` resolves to
// the script's architecture and layout; `migrate megatron-args` takes pasted flags or launcher
// lines; `config show --megatron-args` runs an old command line directly; failures exit non-zero
// with one line naming the script or flag.
#include <nlohmann/json.hpp>

#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using testing::read_text;
using testing::reference_script;
using testing::run_primus;
using testing::test_script;
using testing::TestDir;

nlohmann::json show_json(const std::vector<std::string>& args) {
  std::vector<std::string> all{"config", "show", "--format", "json"};
  all.insert(all.end(), args.begin(), args.end());
  auto r = run_primus(all);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto start = r.output.find('{');  // notes go to stderr, before the object
  return nlohmann::json::parse(r.output.substr(start == std::string::npos ? 0 : start));
}

TEST(MigrateCli, LlamaScriptThenConfigShowGivesTheSameArchitectureAndLayout) {
  TestDir dir;
  auto r = run_primus({"migrate", "megatron-lm", reference_script("train_llama3_style.sh").string(), "MODEL_SIZE=8",
                       "TP=2", "--output", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("proof      lossless: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model      llama3_8B.yaml (zoo preset"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TP 2 x PP 1 x CP 1 x DP 4"), std::string::npos) << r.output;
  auto file = dir.path() / "llama3_8B-pretrain.yaml";
  ASSERT_TRUE(std::filesystem::exists(file));

  auto shown = show_json({"--config", file.string(), "--world-size", "8"});
  EXPECT_EQ(shown["num_layers"], 32);
  EXPECT_EQ(shown["hidden_size"], 4096);
  EXPECT_EQ(shown["ffn_hidden_size"], 14336);
  EXPECT_EQ(shown["num_attention_heads"], 32);
  EXPECT_EQ(shown["num_query_groups"], 8);
  EXPECT_EQ(shown["rotary_base"], 500000);
  EXPECT_EQ(shown["normalization"], "RMSNorm");
  EXPECT_EQ(shown["tensor_model_parallel_size"], 2);
  EXPECT_EQ(shown["pipeline_model_parallel_size"], 1);
  EXPECT_EQ(shown["sequence_parallel"], true);
  EXPECT_EQ(shown["global_batch_size"], 8);
  EXPECT_EQ(shown["micro_batch_size"], 1);
  EXPECT_EQ(shown["seq_length"], 4096);
  // Nothing but the written files is left in the output folder (writes are atomic).
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);
}

TEST(MigrateCli, MixtralScriptThenConfigShow) {
  TestDir dir;
  auto r = run_primus({"migrate", "megatron-lm", reference_script("train_mixtral_style.sh").string(), "MODEL_NAME=8x7B",
                       "--output", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("lossless: "), std::string::npos);
  auto shown = show_json({"--config", (dir.path() / "mixtral_8x7B_v0.1-pretrain.yaml").string(), "--world-size", "8"});
  EXPECT_EQ(shown["num_experts"], 8);
  EXPECT_EQ(shown["moe_router_topk"], 2);
  EXPECT_EQ(shown["expert_model_parallel_size"], 8);
  EXPECT_EQ(shown["num_layers"], 32);
  EXPECT_EQ(shown["rotary_base"], 1000000);
}

TEST(MigrateCli, MegatronArgsAfterDoubleDash) {
  TestDir dir;
  auto r = run_primus({"migrate", "megatron-args", "--output", dir.path().string(), "--name", "pasted", "--",
                       "--num-layers", "8", "--hidden-size", "512", "--ffn-hidden-size", "1408", "--num-attention-heads",
                       "8", "--group-query-attention", "--num-query-groups", "4", "--swiglu", "--disable-bias-linear",
                       "--normalization", "RMSNorm", "--position-embedding-type", "rope", "--rotary-base", "500000",
                       "--no-position-embedding", "--untie-embeddings-and-output-weights", "--seq-length", "512",
                       "--max-position-embeddings", "512", "--micro-batch-size", "2", "--train-iters", "10", "--lr",
                       "1e-3", "--mock-data"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("model      tiny_llama.yaml (zoo preset"), std::string::npos) << r.output;
  std::string text = read_text(dir.path() / "pasted.yaml");
  EXPECT_NE(text.find("model: tiny_llama.yaml"), std::string::npos);
}

TEST(MigrateCli, MegatronArgsTakesAWholeLauncherLineAsOneString) {
  TestDir dir;
  auto r = run_primus({"migrate", "megatron-args", "--output", dir.path().string(), "--",
                       "torchrun --nproc_per_node 4 pretrain_gpt.py --num-layers 2 --hidden-size 256 "
                       "--num-attention-heads 4 --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 "
                       "--global-batch-size 8 --train-iters 5 --lr 1e-4 --tensor-model-parallel-size 2 \\\n --mock-data"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("TP 2 x PP 1 x CP 1 x DP 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("new preset on"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "megatron_args_model.yaml"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "megatron_args-pretrain.yaml"));
}

TEST(MigrateCli, ConfigShowAcceptsAPlainMegatronFlagList) {
  auto shown = show_json({"--config", (testing::source_dir() / "examples/megatron/configs/tiny_llama-pretrain.yaml").string(),
                          "--world-size", "2", "--megatron-args", "--tensor-model-parallel-size", "2",
                          "--disable-bias-linear", "--use-rotary-position-embeddings", "--recompute-activations",
                          "--lr", "3e-4", "--lr", "1e-4", "--data-path", "0.5", "/d/a", "0.5", "/d/b", "--mock-data=false"});
  EXPECT_EQ(shown["tensor_model_parallel_size"], 2);
  EXPECT_EQ(shown["add_bias_linear"], false);
  EXPECT_EQ(shown["position_embedding_type"], "rope");
  EXPECT_EQ(shown["recompute_granularity"], "selective");
  EXPECT_EQ(shown["lr"], 1e-4);
  EXPECT_EQ(shown["data_path"].size(), 4u);
}

TEST(MigrateCli, KeepUnknownWritesTheFilesButExitsOneAndSaysWhatWasDropped) {
  TestDir dir;
  auto r = run_primus({"migrate", "megatron-lm", test_script("unknown_flags.sh").string(), "--keep-unknown", "--output",
                       dir.path().string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("proof      NOT lossless: 2 flag(s) kept only as comments: --use-fancy-kernels, --hiden-size "
                          "256"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("proof      lossless"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unknown    kept only as comments, so NOT lossless (files written, exit status 1)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("primus: migrate: "), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "unknown_flags-pretrain.yaml"));
}

TEST(MigrateCli, TheLayoutAScriptIsMeantForOverTheOneItHardCodes) {
  TestDir dir;
  auto refused = run_primus({"migrate", "megatron-lm", test_script("gpt3_175b_style.sh").string(), "--output",
                             dir.path().string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("(--nnodes N or --world-size N)"), std::string::npos) << refused.output;
  auto r = run_primus({"migrate", "megatron-lm", test_script("gpt3_175b_style.sh").string(), "--world-size", "128",
                       "--output", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("layout     128 processes (16 nodes x 8; --world-size 128 given to migrate; the launch line "
                          "says 1 node x 8)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("TP 8 x PP 16 x CP 1 x DP 1"), std::string::npos) << r.output;
  auto shown = show_json({"--config", (dir.path() / "gpt3_175b_style-pretrain.yaml").string(), "--world-size", "128"});
  EXPECT_EQ(shown["num_layers"], 96);
  EXPECT_EQ(shown["pipeline_model_parallel_size"], 16);

  // megatron-args: a pasted one-node launcher line, stated for 4 nodes.
  auto pasted = run_primus({"migrate", "megatron-args", "--nnodes", "4", "--output", (dir.path() / "args").string(), "--",
                            "torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2 --hidden-size 256 "
                            "--num-attention-heads 8 --seq-length 128 --max-position-embeddings 128 "
                            "--micro-batch-size 1 --train-iters 5 --lr 1e-4 --tensor-model-parallel-size 8 "
                            "--pipeline-model-parallel-size 2 --mock-data --extra-vocab-size 16"});
  ASSERT_EQ(pasted.exit_code, 0) << pasted.output;
  EXPECT_NE(pasted.output.find("TP 8 x PP 2 x CP 1 x DP 2"), std::string::npos) << pasted.output;
  // Kept for the proof, and said: train refuses what is not built.
  EXPECT_NE(pasted.output.find("refused    `primus train` refuses this run until these exist: extra_vocab_size = 16"),
            std::string::npos)
      << pasted.output;
}

TEST(MigrateCli, FailuresExitNonZeroWithOneLine) {
  TestDir dir;
  auto early = run_primus({"migrate", "megatron-lm", test_script("fails_early.sh").string(), "--output", dir.path().string()});
  EXPECT_EQ(early.exit_code, 2) << early.output;
  EXPECT_NE(early.output.find("primus: error: "), std::string::npos);
  EXPECT_NE(early.output.find("exited with code 3"), std::string::npos) << early.output;

  auto unknown = run_primus({"migrate", "megatron-args", "--output", dir.path().string(), "--", "--num-layers", "2",
                             "--no-such-flag", "3"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--no-such-flag 3"), std::string::npos) << unknown.output;

  auto missing = run_primus({"migrate", "megatron-lm", "/nonexistent/train.sh", "--output", dir.path().string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("/nonexistent/train.sh: launch script not found"), std::string::npos) << missing.output;

  auto slow = run_primus({"migrate", "megatron-lm", test_script("runs_forever.sh").string(), "--timeout", "1",
                          "--output", dir.path().string()});
  EXPECT_EQ(slow.exit_code, 2);
  EXPECT_NE(slow.output.find("within 1 s"), std::string::npos) << slow.output;
}

}  // namespace
}  // namespace primus::migrate
