// The valid range of every numeric argument, from the argument table's `range` column, checked in
// one place for every source (preset, overrides, command line, --megatron-args): values the
// engine would crash on, silently train wrong with, or overflow on are refused with one line
// naming the file:line, the key, its value and the range; derived counts are computed with
// overflow checks; the schedule's rules refuse in `config show` what `train` would.
#include <cmath>

#include <gtest/gtest.h>

#include "config/schema.hpp"
#include "config/value_range.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

TEST(ConfigRanges, EveryNumericArgumentHasOne) {
  int numeric = 0;
  for (const auto& spec : Schema::instance().all()) {
    if (spec.type != ArgType::kInt && spec.type != ArgType::kFloat && spec.type != ArgType::kIntList &&
        spec.type != ArgType::kFloatList)
      continue;
    ++numeric;
    EXPECT_FALSE(spec.range.empty()) << spec.key << " has no range in src/config/arguments.tsv";
  }
  EXPECT_GT(numeric, 400);
}

TEST(ConfigRanges, DefaultsAreInRange) {
  // Every default (Megatron's and Primus') satisfies its own interval rules.
  for (const auto& spec : Schema::instance().all())
    for (const Value* v : {&spec.megatron_default, spec.primus_default ? &*spec.primus_default : nullptr}) {
      if (v == nullptr || !(v->is_int() || v->is_float())) continue;
      for (const auto& rule : spec.range) {
        if (rule.kind != RangeRule::Kind::kInterval || rule.when) continue;
        EXPECT_TRUE(rule.admits(v->as_float())) << spec.key << " default " << v->to_yaml() << " vs " << spec.range_text;
      }
    }
}

struct RuleText {
  std::string range;
  std::string description;
  std::vector<double> in, out;
};

class ConfigRangeRules : public ::testing::TestWithParam<RuleText> {};

TEST_P(ConfigRangeRules, ParseDescribeAdmit) {
  const auto rules = parse_range("k", GetParam().range);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].describe(), GetParam().description);
  for (double x : GetParam().in) EXPECT_TRUE(rules[0].admits(x)) << x;
  for (double x : GetParam().out) EXPECT_FALSE(rules[0].admits(x)) << x;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ConfigRangeRules,
    ::testing::Values(RuleText{"[1, inf)", "must be at least 1", {1, 1e300}, {0, -1, NAN, INFINITY}},
                      RuleText{"(0, inf)", "must be positive", {1e-300}, {0, -1e-9, NAN, INFINITY}},
                      RuleText{"[0, inf)", "must not be negative", {0, 5}, {-1, NAN, -INFINITY}},
                      RuleText{"[0, 1)", "must be in [0, 1)", {0, 0.999}, {1, 1.5, -0.1, NAN}},
                      RuleText{"(0, 1]", "must be in (0, 1]", {1, 0.5}, {0, 1.0001}},
                      RuleText{"[0, inf]", "must not be negative", {INFINITY}, {NAN, -1}},
                      RuleText{"[1, 2^31)", "must be in [1, 2147483648)", {2147483647.0}, {2147483648.0}},
                      RuleText{"any", "must be a finite number", {-1e300, 0}, {NAN, INFINITY}},
                      RuleText{"[1, inf) when eval_iters > 0", "must be at least 1 when eval_iters > 0", {1}, {0}}),
    [](const auto& info) { return "rule" + std::to_string(info.index); });

TEST(ConfigRangeRules, MalformedTableTextIsAnError) {
  for (const char* bad : {"[1, 2", "1..2", "[a, 2]", "[2, 1]", "<=", "[0, 1) when x ~ 3"})
    EXPECT_THROW(parse_range("k", bad), primus::Error) << bad;
}

struct RangeCase {
  const char* name;
  std::string overrides;             // YAML lines under overrides:
  std::vector<std::string> cli;
  std::vector<std::string> expected; // substrings of the message
  int64_t world = 1;
};

void PrintTo(const RangeCase& c, std::ostream* os) { *os << c.name; }

class ConfigRangeRefusals : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ConfigRangeRefusals, OneLineNamingKeyValueAndRange) {
  const RangeCase& c = GetParam();
  ScratchDir dir;
  const auto file = dir.write("e.yaml", "model: tiny_llama.yaml\noverrides:\n  train_iters: 100\n  lr_warmup_iters: 10\n" +
                                            c.overrides);
  const std::string message = error_of([&] { resolve_file(file, c.cli, c.world); });
  ASSERT_FALSE(message.empty()) << c.name << " was accepted";
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(message.size(), 700u) << message;
  for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
}

const RangeCase kRefusals[] = {
    // Crashes: a division by zero (SIGFPE) in training.
    {"eval_interval_zero", "", {"--eval_interval", "0", "--eval_iters", "1"},
     {"command line (--eval_interval): eval_interval = 0: must be at least 1"}},
    // Silently wrong: a model with zero weights, optimizers that diverge or never move.
    {"init_method_std_nan", "  init_method_std: .nan\n", {}, {"e.yaml:5: init_method_std = .nan: must be a finite number (must be positive)"}},
    {"init_method_std_negative", "  init_method_std: -0.02\n", {}, {"init_method_std = -0.02: must be positive"}},
    {"init_method_std_zero", "  init_method_std: 0\n", {}, {"init_method_std = 0.0: must be positive"}},
    {"adam_beta1_above_one", "  adam_beta1: 1.5\n", {}, {"e.yaml:5: adam_beta1 = 1.5: must be in [0, 1)"}},
    {"adam_eps_negative", "  adam_eps: -1\n", {}, {"adam_eps = -1.0: must be positive"}},
    {"lr_nan", "  lr: .nan\n", {}, {"e.yaml:5: lr = .nan: must be a finite number (must not be negative)"}},
    {"lr_inf_on_the_command_line", "", {"--lr", ".inf"}, {"command line (--lr): lr = .inf: must be a finite number"}},
    {"lr_negative", "", {"--lr=-1e-3"}, {"lr = -0.001: must not be negative"}},
    {"rotary_base_zero", "  rotary_base: 0\n", {}, {"rotary_base = 0: must be at least 1"}},
    {"norm_epsilon_negative", "  norm_epsilon: -1\n", {}, {"norm_epsilon = -1.0: must be positive"}},
    {"dropout_one", "  hidden_dropout: 1.0\n", {}, {"hidden_dropout = 1.0: must be in [0, 1)"}},
    {"rotary_percent_zero", "  rotary_percent: 0\n", {}, {"rotary_percent = 0.0: must be in (0, 1]"}},
    {"seed_negative", "  seed: -5\n", {}, {"seed = -5: must be in [0, 4294967296)"}},
    {"warmup_fraction_above_one", "  lr_warmup_fraction: 1.5\n", {"--lr-warmup-iters", "0"}, {"lr_warmup_fraction = 1.5: must be in [0, 1]"}},
    {"megatron_args_source", "", {"--adam-beta2", "1"}, {"command line (--adam-beta2): adam_beta2 = 1.0: must be in [0, 1)"}},
    {"list_element", "  data_path: [0.5, a, .nan, b]\n  mock_data: false\n", {}, {"e.yaml:5: data_path = ['0.5', a, '.nan', b]: '.nan' is not a weight"}},
    // Rules that tie keys together.
    {"min_lr_above_lr", "  min_lr: 0.5\n", {}, {"e.yaml:5: min_lr = 0.5: must not exceed lr (lr = 2e-05 (primus/configs/modules/megatron/pre_trainer.yaml:"}},
    {"warmup_init_above_lr", "  lr_warmup_init: 0.1\n", {}, {"lr_warmup_init = 0.1: must not exceed lr"}},
    {"recompute_layers_above_num_layers", "  recompute_num_layers: 9\n", {}, {"recompute_num_layers = 9: must not exceed num_layers (num_layers = 8"}},
    {"topk_above_experts", "", {"--num-experts", "4", "--moe-router-topk", "5"}, {"moe_router_topk = 5: must not exceed num_experts (num_experts = 4"}},
    {"groups_above_heads", "  num_query_groups: 16\n", {}, {"num_query_groups = 16: num_attention_heads 8 must be a multiple of num_query_groups"}},
    {"warmup_longer_than_decay", "", {"--lr-warmup-iters", "200"},
     {"command line (--lr-warmup-iters): lr_warmup_iters = 200: the warmup (3200 samples) must be shorter than the "
      "learning-rate decay (1600 samples: ",
      "e.yaml:3: train_iters = 100 × global_batch_size 16); lower it or raise train_iters"}},
    {"wsd_without_anneal", "  lr_decay_style: WSD\n", {}, {"lr_decay_style = WSD: WSD needs the length of its anneal phase"}},
    {"weight_decay_start_with_constant", "  start_weight_decay: 0.1\n", {}, {"start_weight_decay = 0.1: applies only with weight_decay_incr_style linear or cosine"}},
    {"weight_decay_end_below_start", "  weight_decay_incr_style: linear\n  start_weight_decay: 0.1\n  end_weight_decay: 0.01\n", {},
     {"end_weight_decay = 0.01: the weight decay's end 0.01 must be at least its start 0.1"}},
    {"split_not_numbers", "  data_path: [a]\n  mock_data: false\n  split: abc\n", {}, {"e.yaml:7: split = abc: the parts must not all be zero"}},
    {"split_too_large", "  data_path: [a]\n  mock_data: false\n  split: \"" + std::string(400, '9') + ",1\"\n", {}, {"is too large"}},
    // Integer safety: values past int64 and derived counts that would overflow.
    {"integer_past_int64", "  num_layers: 99999999999999999999\n", {}, {"num_layers = 1e+20 is too large for an integer"}},
    {"world_size_huge", "", {}, {"world size 1099511627776 is not a process count (1 to 16777216)"}, int64_t{1} << 40},
    {"model_parallel_overflow", "", {"--tensor-model-parallel-size", "4611686018427387904", "--pipeline-model-parallel-size", "4"},
     {"model parallel size (tensor × pipeline × context parallel) = 4611686018427387904 × 4 × 1 is too large"}},
    {"token_buffers_overflow", "", {"--global-batch-size", "4611686018427387904", "--micro-batch-size", "1"},
     {"the global batch's token buffers (global_batch_size × seq_length × 16 bytes)", "is too large"}},
    {"activations_overflow", "", {"--micro-batch-size", "1099511627776", "--global-batch-size", "1099511627776"},
     {"the activations of one micro-batch", "is too large"}},
    {"training_samples_overflow", "", {"--train-iters", "4611686018427387904"},
     {"the training samples (train_iters × global_batch_size) = 4611686018427387904 × 16 is too large"}},
    {"hidden_past_gemm_sizes", "  hidden_size: 4294967296\n", {}, {"hidden_size = 4294967296: must be in [1, 2147483648)"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, ConfigRangeRefusals, ::testing::ValuesIn(kRefusals),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigRangeNotes, EvaluationOnAnEmptyValidationSplitIsNoted) {
  ScratchDir dir;
  const auto file = dir.write("e.yaml", "model: tiny_llama.yaml\noverrides:\n  train_iters: 100\n  lr_warmup_iters: 10\n"
                                        "  mock_data: false\n  data_path: [/data/x_text_document]\n  split: 100,0,0\n"
                                        "  eval_iters: 5\n");
  const auto c = resolve_file(file);
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("eval_iters = 5 but"), std::string::npos) << c.notes[0];
  EXPECT_NE(c.notes[0].find("split = '100,0,0' gives the validation split no data: no evaluation will run"),
            std::string::npos)
      << c.notes[0];
}

TEST(ConfigRangeNotes, KeysWithoutEffectInThisSettingAreListed) {
  ScratchDir dir;
  const auto file = dir.write("e.yaml", "model: tiny_llama.yaml\noverrides:\n  train_iters: 100\n  lr_warmup_iters: 10\n"
                                        "  vocab_size: 50000\n  tensorboard_dir: /tmp/tb\n");
  auto listed = [](const ResolvedConfig& c, const std::string& key) {
    return std::find(c.without_effect.begin(), c.without_effect.end(), key) != c.without_effect.end();
  };
  const auto hf = resolve_file(file);  // tiny_llama uses a Hugging Face tokenizer
  EXPECT_TRUE(listed(hf, "vocab_size"));
  EXPECT_TRUE(listed(hf, "tensorboard_dir"));
  const auto null_tok = resolve_file(file, {"--tokenizer-type", "NullTokenizer"});
  EXPECT_FALSE(listed(null_tok, "vocab_size"));
}

}  // namespace
