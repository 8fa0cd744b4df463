// Resolution: the README's acceptance example, each precedence rule, ${VAR}, provenance.
#include <cstdlib>

#include <gtest/gtest.h>

#include "config/config_printer.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

TEST(ConfigResolve, Llama31_8BExampleGivesTheModelCardNumbers) {
  auto c = resolve_file(examples_dir() / "llama3.1_8B-pretrain.yaml");
  const Args& a = c.args;
  EXPECT_EQ(a.hidden_size, 4096);
  EXPECT_EQ(a.ffn_hidden_size, 14336);
  EXPECT_EQ(a.num_layers, 32);
  EXPECT_EQ(a.num_attention_heads, 32);
  EXPECT_EQ(a.num_query_groups, 8);
  EXPECT_EQ(a.rotary_base, 500000);
  EXPECT_EQ(a.max_position_embeddings, 8192);  // the experiment's override beats the preset's 131072
  EXPECT_EQ(a.seq_length, 8192);
  EXPECT_EQ(a.kv_channels, 128);
  EXPECT_EQ(c.at("max_position_embeddings").origin.kind, Origin::Kind::kExperiment);
  EXPECT_EQ(c.at("rotary_base").origin.kind, Origin::Kind::kPreset);
  EXPECT_NE(c.at("rotary_base").origin.file.find("llama3_base.yaml"), std::string::npos);
  EXPECT_EQ(c.at("kv_channels").origin.kind, Origin::Kind::kDerived);
}

struct PrecedenceCase {
  const char* name;
  const char* preset;      // extra preset lines
  const char* overrides;   // experiment override lines
  std::vector<std::string> cli;
  const char* key;
  const char* expected;    // YAML literal
  Origin::Kind kind;
};

void PrintTo(const PrecedenceCase& c, std::ostream* os) { *os << c.name; }

class ConfigPrecedence : public ::testing::TestWithParam<PrecedenceCase> {};

TEST_P(ConfigPrecedence, LaterLayerWins) {
  const auto& p = GetParam();
  ScratchDir dir;
  dir.write("base.yaml", "bases: [llama3_base.yaml]\nnum_layers: 2\nhidden_size: 64\nnum_attention_heads: 4\n"
                         "num_query_groups: 2\nffn_hidden_size: 128\n");
  dir.write("model.yaml", std::string("bases: [base.yaml]\n") + p.preset);
  auto exp = dir.write("exp.yaml", std::string("model: model.yaml\noverrides:\n  seq_length: 64\n"
                                               "  max_position_embeddings: 64\n") + p.overrides);
  auto c = resolve_file(exp, p.cli);
  EXPECT_EQ(c.at(p.key).value, parse_flow_literal(p.expected)) << c.at(p.key).value.to_yaml();
  EXPECT_EQ(c.at(p.key).origin.kind, p.kind) << c.at(p.key).origin.describe();
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ConfigPrecedence,
    ::testing::Values(
        PrecedenceCase{"megatron_default", "", "", {}, "adam_eps", "1e-08", Origin::Kind::kDefault},
        PrecedenceCase{"primus_default_beats_megatron", "", "", {}, "train_iters", "1000", Origin::Kind::kDefault},
        PrecedenceCase{"preset_beats_default", "rotary_base: 1234\n", "", {}, "rotary_base", "1234", Origin::Kind::kPreset},
        PrecedenceCase{"family_base_beats_default", "", "", {}, "rotary_base", "500000", Origin::Kind::kPreset},
        PrecedenceCase{"child_preset_beats_parent", "num_layers: 3\n", "", {}, "num_layers", "3", Origin::Kind::kPreset},
        PrecedenceCase{"override_beats_preset", "rotary_base: 1234\n", "  rotary_base: 99\n", {}, "rotary_base", "99",
                       Origin::Kind::kExperiment},
        PrecedenceCase{"cli_beats_override", "", "  train_iters: 500\n", {"--train_iters", "700"}, "train_iters", "700",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_equals_form", "", "", {"--lr=3e-4"}, "lr", "0.0003", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_megatron_spelling", "", "", {"--rotary-base", "77"}, "rotary_base", "77",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_bare_flag", "", "", {"--eod_mask_loss"}, "eod_mask_loss", "true", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_store_false", "", "  bias_swiglu_fusion: true\n", {"--no-bias-swiglu-fusion"},
                       "bias_swiglu_fusion", "false", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_disable_bias_linear", "add_bias_linear: true\n", "", {"--disable-bias-linear"},
                       "add_bias_linear", "false", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_list_flag", "", "", {"--data-path", "0.3", "a", "0.7", "b", "--split", "99,1,0"}, "data_path",
                       "['0.3', a, '0.7', b]", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_later_flag_wins", "", "", {"--train_iters", "700", "--train-iters", "900"}, "train_iters", "900",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"derived_when_unset", "", "", {}, "kv_channels", "16", Origin::Kind::kDerived},
        // Upstream's command-line forms (issue 14, item 4).
        PrecedenceCase{"cli_bare_key_value", "", "", {"rotary_base=55"}, "rotary_base", "55", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_bare_hyphenated", "", "", {"rotary-base=56"}, "rotary_base", "56", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_store_true_flag_false", "", "", {"--bf16", "false"}, "bf16", "false", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_store_true_flag_true", "", "  bf16: false\n", {"--bf16", "True"}, "bf16", "true",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_store_false_flag_false", "", "", {"--disable-bias-linear", "false"}, "add_bias_linear", "true",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_bool_key_false", "", "", {"--mock_data", "false", "--train_iters", "300"}, "mock_data", "false",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_bare_bool", "", "", {"eod_mask_loss=true"}, "eod_mask_loss", "true", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_dotted_nested_key", "", "", {"torch_compile.enable=true"}, "torch_compile.enable", "true",
                       Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_dotted_flag", "", "", {"--lora.dim", "16"}, "lora.dim", "16", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_float_literal", "", "", {"lr=1e-5"}, "lr", "1e-05", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_scalar_stays_scalar", "", "", {"--moe_router_load_balancing_type", "seq_aux_loss"},
                       "moe_router_load_balancing_type", "seq_aux_loss", Origin::Kind::kCommandLine},
        PrecedenceCase{"yaml_scalar_stays_scalar", "", "  moe_router_load_balancing_type: seq_aux_loss\n", {},
                       "moe_router_load_balancing_type", "seq_aux_loss", Origin::Kind::kExperiment},
        PrecedenceCase{"cli_list_literal", "", "", {"--recompute_layer_ids=[0, 1]"},
                       "recompute_layer_ids", "[0, 1]", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_string_keeps_text", "", "", {"split=98,1,1"}, "split", "'98,1,1'", Origin::Kind::kCommandLine},
        PrecedenceCase{"cli_null_literal", "", "  ffn_hidden_size: 256\n", {"ffn_hidden_size=None"}, "ffn_hidden_size",
                       "128", Origin::Kind::kDerived},
        PrecedenceCase{"alias_sets_canonical_key", "", "  layernorm_epsilon: 1.0e-6\n", {}, "norm_epsilon", "1e-06",
                       Origin::Kind::kExperiment},
        PrecedenceCase{"inverted_alias", "", "", {"--use-mamba-mem-eff-path", "false"}, "disable_mamba_mem_eff_path",
                       "true", Origin::Kind::kCommandLine}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigResolve, ExtendsIsAcceptedLikeBases) {
  ScratchDir dir;
  dir.write("m.yaml", "extends:\n  - tiny_llama.yaml\nnum_layers: 3\n");
  auto exp = dir.write("e.yaml", "model: m.yaml\n");
  auto c = resolve_file(exp);
  EXPECT_EQ(c.args.num_layers, 3);
  EXPECT_EQ(c.args.hidden_size, 512);
}

TEST(ConfigResolve, LaterParentWinsOverEarlierOne) {
  ScratchDir dir;
  dir.write("a.yaml", "rotary_base: 1\n");
  dir.write("b.yaml", "rotary_base: 2\n");
  dir.write("m.yaml", "bases: [tiny_llama.yaml, a.yaml, b.yaml]\n");
  auto c = resolve_file(dir.write("e.yaml", "model: m.yaml\n"));
  EXPECT_EQ(c.args.rotary_base, 2);
}

TEST(ConfigResolve, EnvironmentVariablesInKeysAndValues) {
  ScratchDir dir;
  ::setenv("PRIMUS_TEST_LAYERS", "5", 1);
  ::setenv("PRIMUS_TEST_KEY", "rotary_base", 1);
  auto exp = dir.write("e.yaml",
                       "model: tiny_llama.yaml\noverrides:\n  num_layers: ${PRIMUS_TEST_LAYERS}\n"
                       "  ${PRIMUS_TEST_KEY}: 321\n  train_iters: ${PRIMUS_TEST_UNSET_VAR:120}\n"
                       "  data_cache_path: ${PRIMUS_TEST_UNSET_VAR:null}\n");
  auto c = resolve_file(exp);
  EXPECT_EQ(c.args.num_layers, 5);
  EXPECT_EQ(c.args.rotary_base, 321);
  EXPECT_EQ(c.args.train_iters, 120);
  EXPECT_FALSE(c.args.data_cache_path.has_value());
  EXPECT_EQ(c.at("num_layers").origin.env_var, "PRIMUS_TEST_LAYERS");
  EXPECT_NE(c.at("num_layers").origin.describe().find("via $PRIMUS_TEST_LAYERS"), std::string::npos);
  ::unsetenv("PRIMUS_TEST_LAYERS");
  ::unsetenv("PRIMUS_TEST_KEY");
}

TEST(ConfigResolve, ConfigPathEnvironmentIsSearchedAfterBuiltins) {
  ScratchDir dir;
  dir.write("extra/my_model.yaml", "bases: [tiny_llama.yaml]\nnum_layers: 6\n");
  auto exp = dir.write("exp/e.yaml", "model: my_model.yaml\n");
  EXPECT_NE(error_of([&] { resolve_file(exp); }).find("not found"), std::string::npos);
  ::setenv("PRIMUS_CONFIG_PATH", (dir.path() / "extra").c_str(), 1);
  auto c = resolve_file(exp);
  ::unsetenv("PRIMUS_CONFIG_PATH");
  EXPECT_EQ(c.args.num_layers, 6);
}

TEST(ConfigResolve, DerivedValues) {
  auto c = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--global_batch_size", "16"}, 2);
  EXPECT_EQ(c.args.world_size, 2);
  EXPECT_EQ(c.args.data_parallel_size, 2);
  EXPECT_EQ(c.args.num_micro_batches, 16 / (c.args.micro_batch_size * 2));
  // The vocabulary is padded to make_vocab_size_divisible_by × TP (the tokenizer's size is known at start-up).
  auto v = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--make-vocab-size-divisible-by", "128"});
  EXPECT_EQ(pad_vocab_size(32000, v.args), 32000);
  EXPECT_EQ(pad_vocab_size(32001, v.args), 32128);
  auto tp = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--tensor-model-parallel-size", "2"}, 2);
  EXPECT_EQ(pad_vocab_size(32001, tp.args), 32256);
  // ffn default of SwiGLU models: int(4h·2/3 / 64)·64.
  ScratchDir dir;
  auto exp = dir.write("e.yaml", "model: tiny_llama.yaml\noverrides:\n  ffn_hidden_size: null\n  hidden_size: 4096\n"
                                 "  num_attention_heads: 32\n  num_query_groups: 8\n");
  EXPECT_EQ(resolve_file(exp).args.ffn_hidden_size, 10880);
  // num_query_groups follows the heads when group_query_attention is off.
  auto mha = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--group_query_attention", "false"});
  EXPECT_EQ(mha.args.num_query_groups, mha.args.num_attention_heads);
  // Megatron's deprecated spellings mean what they meant.
  auto rope = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml",
                           {"--position-embedding-type", "learned_absolute", "--use-rotary-position-embeddings"});
  EXPECT_EQ(rope.args.position_embedding_type, "rope");
  auto rec = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--recompute-activations"});
  EXPECT_EQ(*rec.args.recompute_granularity, "selective");
}

TEST(ConfigResolve, ExplainNamesEveryOrigin) {
  auto c = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--seed", "7"});
  std::string text = format_resolved(c, OutputFormat::kYaml, true);
  EXPECT_NE(text.find("seed: 7  # command line: command line (--seed)"), std::string::npos);
  EXPECT_NE(text.find("# default: primus/configs/modules/megatron/trainer_base.yaml:"), std::string::npos);
  EXPECT_NE(text.find("# preset: primus/configs/models/megatron/tiny_llama.yaml:"), std::string::npos);
  EXPECT_NE(text.find("# experiment: "), std::string::npos);
  EXPECT_NE(text.find("# derived: derived (hidden_size / num_attention_heads)"), std::string::npos);
  std::string json = format_resolved(c, OutputFormat::kJson, true);
  EXPECT_NE(json.find("\"seed\": {\"value\": 7, \"from\": \"command line\""), std::string::npos);
}

TEST(ConfigResolve, NoEffectKeysAreListedOnce) {
  auto c = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml", {"--no-rope-fusion"});
  int count = 0;
  for (const auto& k : c.without_effect) count += k == "apply_rope_fusion";
  EXPECT_EQ(count, 1);
  for (const auto& k : c.without_effect) EXPECT_NE(k, "hidden_size");
}
