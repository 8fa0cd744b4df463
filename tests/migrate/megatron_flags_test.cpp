// Megatron flags through the schema with Megatron's semantics, and what Megatron-LM makes of them
// on its own defaults: the reference every migration is proven against.
#include <algorithm>

#include "migrate/megatron_flags.hpp"
#include "migrate/megatron_reading.hpp"
#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using config::Value;
using testing::error_of;

const std::vector<std::string> kSmallModel{"--num-layers", "2",  "--hidden-size",  "256",  "--num-attention-heads", "4",
                                           "--seq-length", "128", "--max-position-embeddings", "128", "--micro-batch-size",
                                           "1", "--train-iters", "5", "--lr", "1e-4"};

std::vector<std::string> with(std::vector<std::string> extra) {
  std::vector<std::string> out = kSmallModel;
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

TEST(MigrateMegatronFlags, StoreFalseAndNegatedSpellings) {
  MegatronFlags f = read_megatron_flags({"--disable-bias-linear", "--no-position-embedding", "--no-masked-softmax-fusion",
                                         "--untie-embeddings-and-output-weights"});
  EXPECT_EQ(f.layer.find("add_bias_linear")->value, Value{false});
  EXPECT_EQ(f.layer.find("add_position_embedding")->value, Value{false});
  EXPECT_EQ(f.layer.find("masked_softmax_fusion")->value, Value{false});
  EXPECT_EQ(f.layer.find("untie_embeddings_and_output_weights")->value, Value{true});
  EXPECT_TRUE(f.unknown.empty());
}

TEST(MigrateMegatronFlags, LaterFlagsWinAndInlineValues) {
  MegatronFlags f = read_megatron_flags({"--log-interval", "10", "--eval-iters", "10", "--log-interval=1", "--eval-iters", "-1"});
  EXPECT_EQ(f.layer.find("log_interval")->value, Value{1});
  EXPECT_EQ(f.layer.find("eval_iters")->value, Value{-1});
}

TEST(MigrateMegatronFlags, NargsListsTakeEveryValue) {
  MegatronFlags f = read_megatron_flags({"--data-path", "0.3", "/d/a", "0.7", "/d/b", "--split", "99,1,0"});
  ASSERT_TRUE(f.layer.find("data_path")->value.is_list());
  EXPECT_EQ(f.layer.find("data_path")->value.as_list().size(), 4u);
  EXPECT_EQ(f.layer.find("split")->value.to_display(), "99,1,0");
}

TEST(MigrateMegatronFlags, EveryUnknownFlagIsListedWithSuggestions) {
  MegatronFlags f = read_megatron_flags({"--num-layers", "2", "--hiden-size", "256", "--use-fancy-kernels", "--bf16"});
  ASSERT_EQ(f.unknown.size(), 2u);
  EXPECT_EQ(f.unknown[0].text(), "--hiden-size 256");
  EXPECT_NE(f.unknown[0].suggestion.find("--hidden-size"), std::string::npos);
  EXPECT_EQ(f.unknown[1].text(), "--use-fancy-kernels");
  EXPECT_EQ(f.layer.find("bf16")->value, Value{true});  // known flags around them still read
}

TEST(MigrateMegatronFlags, StrayWordsAreErrors) {
  EXPECT_NE(error_of([] { read_megatron_flags({"train", "--bf16"}); }).find("'train' is not a flag"), std::string::npos);
}

TEST(MigrateMegatronReading, StartsFromMegatronDefaultsNotPrimus) {
  MegatronReading m = read_on_megatron_defaults(read_megatron_flags(kSmallModel).layer, 1);
  EXPECT_EQ(m.final_values.at("log_interval"), Value{100});        // Primus: 1
  EXPECT_EQ(m.final_values.at("weight_decay"), Value{0.01});       // Primus: 0.0
  EXPECT_EQ(m.final_values.at("lr_decay_style"), Value{"linear"}); // Primus: cosine
  EXPECT_EQ(m.final_values.at("add_bias_linear"), Value{true});    // Primus presets: false
  EXPECT_EQ(m.final_values.at("bf16"), Value{false});
  // Derived as Megatron derives them.
  EXPECT_EQ(m.final_values.at("kv_channels"), Value{64});
  EXPECT_EQ(m.final_values.at("ffn_hidden_size"), Value{1024});
  EXPECT_EQ(m.final_values.at("num_query_groups"), Value{4});
  EXPECT_EQ(m.final_values.at("global_batch_size"), Value{1});
}

TEST(MigrateMegatronReading, DeprecatedAliasesConvert) {
  MegatronReading m = read_on_megatron_defaults(
      read_megatron_flags(with({"--use-rotary-position-embeddings", "--recompute-activations"})).layer, 1);
  EXPECT_EQ(m.final_values.at("position_embedding_type"), Value{"rope"});
  EXPECT_EQ(m.final_values.at("recompute_granularity"), Value{"selective"});
}

TEST(MigrateMegatronReading, SwigluFfnSizeAndSequenceParallelRules) {
  MegatronReading m = read_on_megatron_defaults(
      read_megatron_flags(with({"--swiglu", "--sequence-parallel", "--global-batch-size", "4"})).layer, 4);
  EXPECT_EQ(m.final_values.at("ffn_hidden_size"), Value{640});  // int(4·256·2/3 / 64)·64
  EXPECT_EQ(m.final_values.at("sequence_parallel"), Value{false});  // TP 1
  EXPECT_EQ(m.final_values.at("data_parallel_size"), Value{4});
  EXPECT_EQ(m.final_values.at("num_micro_batches"), Value{1});
}

TEST(MigrateMegatronReading, RocmForkPaiFlagsBecomeMegatronCoreKeys) {
  const std::vector<std::string> moe{"--num-experts", "4", "--moe-ffn-hidden-size", "96", "--moe-router-topk", "2"};
  auto read = [&](std::vector<std::string> extra) {
    std::vector<std::string> all = moe;
    all.insert(all.end(), extra.begin(), extra.end());
    return read_on_megatron_defaults(read_megatron_flags(with(all)).layer, 1);
  };
  // Shared experts as a count of expert-sized MLPs (or of --shared-moe-ffn-hidden-size ones).
  MegatronReading m = read({"--num-shared-experts", "2", "--qk-nope-head-dim", "48", "--qk-rope-head-dim", "16"});
  EXPECT_EQ(m.final_values.at("moe_shared_expert_intermediate_size"), Value{192});
  EXPECT_EQ(m.resolved.values.at("moe_shared_expert_intermediate_size").origin.detail,
            "num_shared_experts × moe_ffn_hidden_size");
  EXPECT_EQ(m.final_values.at("qk_head_dim"), Value{48});
  EXPECT_EQ(m.final_values.at("qk_pos_emb_head_dim"), Value{16});
  EXPECT_EQ(read({"--num-shared-experts", "3", "--shared-moe-ffn-hidden-size", "64"})
                .final_values.at("moe_shared_expert_intermediate_size"),
            Value{192});
  EXPECT_NE(error_of([&] { read({"--num-shared-experts", "2", "--moe-shared-expert-intermediate-size", "100"}); })
                .find("not num_shared_experts × moe_ffn_hidden_size = 192"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              read_on_megatron_defaults(read_megatron_flags(with({"--num-shared-experts", "2"})).layer, 1);
            }).find("shared experts need num_experts"),
            std::string::npos);
  // PAI's grouped-query spelling.
  MegatronReading gqa = read_on_megatron_defaults(read_megatron_flags(with({"--n-head-kv", "2"})).layer, 1);
  EXPECT_EQ(gqa.final_values.at("group_query_attention"), Value{true});
  EXPECT_EQ(gqa.final_values.at("num_query_groups"), Value{2});
}

TEST(MigrateMegatronReading, PaiDeepSpeedStyleMoeFlagsAreRefusedWithTheMegatronCoreKey) {
  // PAI-Megatron-Patch's --moe-* flags configure its DeepSpeed-style MoE (--moe, refused); Megatron-Core MoE never
  // reads them, and their meanings differ (1-based expert_interval, DeepSpeed's aux loss), so a script that sets
  // one is refused with the Megatron-Core key to use instead of having it dropped.
  const std::vector<std::string> moe{"--num-experts", "4", "--moe-ffn-hidden-size", "96", "--moe-router-topk", "2"};
  const std::vector<std::pair<std::vector<std::string>, std::pair<std::string, std::string>>> cases{
      {{"--moe-topk", "1"}, {"", ""}},  // the fork's default: nothing asked for
      {{"--moe-topk", "4"}, {"moe_topk = 4", "moe_router_topk (--moe-router-topk)"}},
      {{"--expert-interval", "1"}, {"expert_interval = 1", "moe_layer_freq (--moe-layer-freq"}},
      {{"--moe-loss-coeff", "0.001"}, {"moe_loss_coeff = ", "moe_aux_loss_coeff (--moe-aux-loss-coeff)"}},
      {{"--moe-expert-parallel-size", "2"},
       {"moe_expert_parallel_size = 2", "expert_model_parallel_size (--expert-model-parallel-size)"}},
      {{"--moe-train-capacity-factor", "2"}, {"moe_train_capacity_factor = ", "moe_expert_capacity_factor"}},
      {{"--moe-eval-capacity-factor", "2"}, {"moe_eval_capacity_factor = ", "moe_expert_capacity_factor"}},
      {{"--moe-min-capacity", "1"}, {"moe_min_capacity = 1", "moe_expert_capacity_factor"}},
      {{"--expert-tensor-parallelism"},
       {"expert_tensor_parallelism = true", "expert_tensor_parallel_size (--expert-tensor-parallel-size)"}},
      {{"--router-type", "expert_choice"}, {"router_type = ", "moe_router_topk"}},
  };
  for (const auto& [flags, expected] : cases) {
    std::vector<std::string> all = moe;
    all.insert(all.end(), flags.begin(), flags.end());
    MegatronReading m = read_on_megatron_defaults(read_megatron_flags(with(all)).layer, 1);
    EXPECT_EQ(m.final_values.at("moe_router_topk"), Value{2}) << flags[0];  // Megatron-Core's own key is untouched
    if (expected.first.empty()) {
      EXPECT_TRUE(m.resolved.refused.empty()) << flags[0];
      continue;
    }
    const auto& refused = m.resolved.refused;
    EXPECT_TRUE(std::any_of(refused.begin(), refused.end(),
                            [&](const std::string& r) {
                              return r.rfind(expected.first, 0) == 0 && r.find(expected.second) != std::string::npos;
                            }))
        << flags[0] << ": " << (refused.empty() ? std::string("nothing refused") : refused.front());
  }
}

TEST(MigrateMegatronReading, LayerPatternsAndBooleanOptionalFlagsKeepTheirTypes) {
  // Megatron evaluates a --moe-layer-freq pattern; it stays the text the preset form writes.
  MegatronFlags f = read_megatron_flags({"--moe-layer-freq", "([0]*1+[1]*3)"});
  EXPECT_EQ(f.layer.find("moe_layer_freq")->value, Value{"([0]*1+[1]*3)"});
  EXPECT_EQ(read_megatron_flags({"--moe-layer-freq", "2"}).layer.find("moe_layer_freq")->value, Value{2});
  // argparse.BooleanOptionalAction: --X / --no-X, and a boolean (never the text "false") either way.
  for (const char* key : {"rl_partial_rollouts", "rl_offload_kv_cache_during_training", "langrl_external_server"}) {
    std::string flag = "--" + std::string(key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    MegatronReading on = read_on_megatron_defaults(read_megatron_flags(with({flag})).layer, 1);
    EXPECT_EQ(on.final_values.at(key), Value{true}) << key;
    MegatronReading off = read_on_megatron_defaults(read_megatron_flags(with({"--no-" + flag.substr(2)})).layer, 1);
    EXPECT_EQ(off.final_values.at(key), Value{false}) << key;
    MegatronReading unset = read_on_megatron_defaults(read_megatron_flags(kSmallModel).layer, 1);
    EXPECT_EQ(unset.final_values.at(key), Value{false}) << key;
  }
}

TEST(MigrateMegatronReading, InterleavingOnTwoStagesNeedsP2pOverlapAsInMegatron) {
  // validate_args: pp > 1 with overlap_p2p_comm (its default), pp > 2 without it.
  const std::vector<std::string> interleaved{"--num-layers", "4", "--pipeline-model-parallel-size", "2",
                                             "--num-layers-per-virtual-pipeline-stage", "1", "--global-batch-size", "4"};
  std::vector<std::string> flags = with(interleaved);
  MegatronReading m = read_on_megatron_defaults(read_megatron_flags(flags).layer, 2);
  EXPECT_EQ(m.final_values.at("num_virtual_stages_per_pipeline_rank"), Value{2});
  flags.push_back("--no-overlap-p2p-communication");
  std::string msg = error_of([&] { read_on_megatron_defaults(read_megatron_flags(flags).layer, 2); });
  EXPECT_NE(msg.find("interleaved pipelining with overlap_p2p_comm off needs pipeline_model_parallel_size > 2"),
            std::string::npos)
      << msg;
}

TEST(MigrateMegatronReading, ArgumentsMegatronRejectsNameTheFlag) {
  std::string msg = error_of([] {
    read_on_megatron_defaults(read_megatron_flags(with({"--tensor-model-parallel-size", "8"})).layer, 4);
  });
  EXPECT_NE(msg.find("these arguments make no valid run (world size 4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--tensor-model-parallel-size"), std::string::npos) << msg;
}

}  // namespace
}  // namespace primus::migrate
