// Scripts whose model or layout needs more than the flags' face value: a DeepSeek-V2-Lite launch
// in the ROCm fork's style (its own entry point, PAI-Megatron-Patch flags) lands on the DeepSeek
// family; a Llama 3 70B that leaves --rotary-base at Megatron's 10000 is named as such; a GPT-3
// 175B script that hard-codes one node migrates for the layout the user states.
#include <algorithm>

#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using config::Value;
using testing::error_of;
using testing::migrate_script;
using testing::read_text;
using testing::test_script;
using testing::TestDir;

bool has(const std::vector<std::string>& v, const std::string& text) {
  return std::find(v.begin(), v.end(), text) != v.end();
}

TEST(MigrateModelFamily, DeepSeekV2LiteInTheRocmForkStyleLandsOnTheDeepSeekBase) {
  TestDir dir;
  auto m = migrate_script(test_script("deepseek_v2_lite_style.sh"), {}, dir.path() / "fork");
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  // Every layer MoE, no q/k norms, Megatron's mscale: not the zoo's preset, but its family.
  EXPECT_FALSE(m.result.zoo_match);
  ASSERT_TRUE(m.result.preset_file);
  std::string preset = read_text(*m.result.preset_file);
  EXPECT_NE(preset.find("bases:\n  - deepseek_v2_base.yaml\n"), std::string::npos) << preset;
  EXPECT_NE(m.result.match_explanation.find("closest zoo preset: deepseek_v2_lite.yaml (qk_layernorm false here"),
            std::string::npos)
      << m.result.match_explanation;
  // The PAI flags became Megatron-Core's keys; the entry point implied latent attention.
  EXPECT_EQ(m.value("multi_latent_attention"), Value{true});
  EXPECT_EQ(m.integer("moe_shared_expert_intermediate_size"), 2816);  // 2 × 1408
  EXPECT_EQ(m.integer("qk_head_dim"), 128);
  EXPECT_EQ(m.integer("qk_pos_emb_head_dim"), 64);
  EXPECT_EQ(m.integer("num_experts"), 64);
  EXPECT_EQ(m.integer("moe_router_topk"), 6);
  EXPECT_TRUE(has(m.result.conversions, "--num-shared-experts -> moe_shared_expert_intermediate_size: 2816"));
  EXPECT_TRUE(has(m.result.conversions, "pretrain_deepseek.py -> multi_latent_attention: true (it always builds "
                                        "DeepSeek-V2's multi-latent attention)"));
  EXPECT_NE(m.result.entry_point_note.find("entry point: pretrain_deepseek.py (not pretrain_gpt.py)"), std::string::npos);
  std::string text = read_text(m.result.experiment_file);
  EXPECT_NE(text.find("# Note: entry point: pretrain_deepseek.py (not pretrain_gpt.py)"), std::string::npos) << text;
  EXPECT_EQ(text.find("num_shared_experts"), std::string::npos) << text;

  // With what the zoo's preset has beyond that, it is that preset.
  auto exact = migrate_script(test_script("deepseek_v2_lite_style.sh"), {"EXACT=1"}, dir.path() / "exact");
  EXPECT_TRUE(exact.result.proof.lossless()) << exact.result.proof.describe();
  EXPECT_EQ(exact.result.model, "deepseek_v2_lite.yaml") << exact.result.match_explanation;
  EXPECT_EQ(exact.value("moe_layer_freq"), Value{"([0]*1+[1]*26)"});
}

TEST(MigrateModelFamily, Llama3SeventyBWithMegatronsRotaryBaseIsNamedAsSuch) {
  TestDir dir;
  MigrationRequest request;
  request.launch = parse_pasted_command(
      {"torchrun", "--nproc_per_node", "8", "pretrain_gpt.py", "--num-layers", "80", "--hidden-size", "8192",
       "--ffn-hidden-size", "28672", "--num-attention-heads", "64", "--group-query-attention", "--num-query-groups", "8",
       "--swiglu", "--disable-bias-linear", "--normalization", "RMSNorm", "--norm-epsilon", "1e-5",
       "--position-embedding-type", "rope", "--untie-embeddings-and-output-weights", "--no-position-embedding",
       "--seq-length", "4096", "--max-position-embeddings", "8192", "--tensor-model-parallel-size", "8",
       "--micro-batch-size", "1", "--global-batch-size", "8", "--train-iters", "10", "--lr", "1e-4", "--mock-data",
       "--tokenizer-type", "HuggingFaceTokenizer", "--tokenizer-model", "meta-llama/Meta-Llama-3-70B"},
      8);
  request.output_dir = dir.path();
  request.source = "train_llama3_70b.sh";
  request.default_stem = "train_llama3_70b";
  MigrationResult r = migrate(request);
  EXPECT_TRUE(r.proof.lossless()) << r.proof.describe();
  EXPECT_EQ(r.model, "llama2_70B.yaml");  // rotary base 10000, as Llama 2
  EXPECT_NE(r.family_note.find("the script names the llama3 family"), std::string::npos) << r.family_note;
  EXPECT_NE(r.family_note.find("llama3_70B.yaml differs from it only in one key: rotary_base 10000 here, 500000 there"),
            std::string::npos)
      << r.family_note;
  EXPECT_NE(read_text(r.experiment_file).find("# Note: the script names the llama3 family"), std::string::npos);
}

TEST(MigrateModelFamily, AScriptHardCodingOneNodeMigratesForTheLayoutTheUserStates) {
  TestDir dir;
  CaptureOptions capture;
  capture.script = test_script("gpt3_175b_style.sh");
  capture.timeout_s = 30;
  CaptureResult captured = capture_launch(capture);
  MigrationRequest request;
  request.launch = captured.launch;
  request.output_dir = dir.path();
  request.source = "gpt3_175b_style.sh";
  request.default_stem = "gpt3_175b_style";
  // As captured: 8 processes for TP 8 × PP 16. The error names migrate's own options only.
  std::string msg = error_of([&] { migrate(request); });
  EXPECT_NE(msg.find("world size 8 is not divisible by tensor × pipeline × context parallel = 8×16×1 = 128"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("(--nnodes N or --world-size N)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("mpirun"), std::string::npos) << msg;

  MigrationRequest sixteen = request;
  restate_layout(sixteen.launch.layout, 16, 0);
  MigrationResult r = migrate(sixteen);
  EXPECT_TRUE(r.proof.lossless()) << r.proof.describe();
  EXPECT_EQ(r.world_size, 128);
  EXPECT_EQ(r.resolved.at("pipeline_model_parallel_size").value, Value{16});
  EXPECT_EQ(r.resolved.at("data_parallel_size").value, Value{1});
  EXPECT_NE(read_text(r.experiment_file).find("128 processes (16 nodes x 8; --nnodes 16 given to migrate; the launch "
                                              "line says 1 node x 8)"),
            std::string::npos);
}

TEST(MigrateModelFamily, ErrorsNameTheFlagsAndMigratesOwnOptions) {
  TestDir dir;
  MigrationRequest request;
  request.launch = parse_pasted_command({"--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4"}, 8);
  request.output_dir = dir.path();
  std::string msg = error_of([&] { migrate(request); });
  EXPECT_NE(msg.find("seq_length is not set; the flags must give it: --seq-length N"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("overrides"), std::string::npos) << msg;  // no experiment exists yet
}

}  // namespace
}  // namespace primus::migrate
