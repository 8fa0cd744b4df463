// Megatron flags through the schema with Megatron's semantics, and what Megatron-LM makes of them
// on its own defaults: the reference every migration is proven against.
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

TEST(MigrateMegatronReading, ArgumentsMegatronRejectsNameTheFlag) {
  std::string msg = error_of([] {
    read_on_megatron_defaults(read_megatron_flags(with({"--tensor-model-parallel-size", "8"})).layer, 4);
  });
  EXPECT_NE(msg.find("these arguments make no valid run (world size 4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--tensor-model-parallel-size"), std::string::npos) << msg;
}

}  // namespace
}  // namespace primus::migrate
