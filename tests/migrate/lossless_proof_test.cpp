// The proof reports every difference exactly (key, the script's value, the experiment's value and
// where that came from) and counts what is identical.
#include "config/config_paths.hpp"
#include "migrate/lossless_proof.hpp"
#include "migrate/preset_match.hpp"
#include "migrate/megatron_flags.hpp"
#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using testing::TestDir;

TEST(MigrateLosslessProof, NamesEachDifferingKeyAndItsOrigin) {
  TestDir dir;
  auto flags = read_megatron_flags({"--num-layers", "8", "--hidden-size", "512", "--ffn-hidden-size", "1408",
                                    "--num-attention-heads", "8", "--group-query-attention", "--num-query-groups", "4",
                                    "--seq-length", "512", "--micro-batch-size", "2", "--train-iters", "10", "--lr", "3e-4"});
  MegatronReading megatron = read_on_megatron_defaults(flags.layer, 1);
  auto file = dir.path() / "exp.yaml";
  std::ofstream(file) << "model: tiny_llama.yaml\noverrides:\n  lr: 1.0e-3\n";
  config::ResolveOptions options;
  options.config = file;
  options.world_size = 1;
  ProofResult proof = prove_lossless(megatron.final_values, config::resolve(options));
  ASSERT_FALSE(proof.lossless());
  bool found = false;
  for (const auto& d : proof.differences)
    if (d.key == "lr") {
      found = true;
      EXPECT_EQ(d.megatron, config::Value{3e-4});
      EXPECT_EQ(d.primus, config::Value{1e-3});
      EXPECT_NE(d.primus_origin.find("exp.yaml:3"), std::string::npos) << d.primus_origin;
    }
  EXPECT_TRUE(found);
  EXPECT_GT(proof.identical, 400u);
  EXPECT_NE(proof.describe().find("NOT lossless"), std::string::npos);
  EXPECT_NE(proof.describe().find("lr: script 0.0003 vs experiment 0.001"), std::string::npos) << proof.describe();
}

TEST(MigrateLosslessProof, FlagsKeptOnlyAsCommentsAreNeverLossless) {
  ProofResult proof;
  proof.identical = 600;
  EXPECT_EQ(proof.describe(), "lossless: 600 keys identical");
  proof.dropped = {"--use-fancy-kernels", "--hiden-size 256"};
  EXPECT_FALSE(proof.lossless());
  EXPECT_EQ(proof.describe(),
            "NOT lossless: 2 flag(s) kept only as comments: --use-fancy-kernels, --hiden-size 256 (the other 600 "
            "keys identical)");
  proof.differences.push_back({"lr", config::Value{3e-4}, config::Value{1e-3}, "exp.yaml:3"});
  EXPECT_NE(proof.describe().find("NOT lossless: 1 key(s) differ (600 identical); 2 flag(s) kept only as comments: "
                                  "--use-fancy-kernels, --hiden-size 256:\n  lr: script 0.0003"),
            std::string::npos)
      << proof.describe();
}

TEST(MigrateLosslessProof, RunFolderKeysAndAliasesAreNotCompared) {
  EXPECT_FALSE(is_compared_key("exp_name"));
  EXPECT_FALSE(is_compared_key("workspace"));
  EXPECT_TRUE(is_compared_key("lr"));
  EXPECT_TRUE(is_compared_key("data_parallel_size"));
  EXPECT_TRUE(is_converted_alias("recompute_activations"));
  EXPECT_TRUE(is_converted_alias("num_shared_experts"));  // as moe_shared_expert_intermediate_size
}

}  // namespace
}  // namespace primus::migrate
