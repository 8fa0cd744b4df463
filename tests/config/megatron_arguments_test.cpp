// Nothing a current Megatron-LM user writes is unknown: every flag of Megatron-LM d3528a2 (what
// upstream Primus pins), of Megatron-LM main and of AMD's ROCm fork (with the PAI-Megatron-Patch
// arguments its examples read) is a flag of our table with the same meaning. The lists are
// tests/config/fixtures/megatron_arguments/*.tsv, dumped from Megatron's own argparse parser.
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "config/schema.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

struct FlagRow {
  std::string flag, dest, action, type, nargs, default_value, choices;
};

std::vector<FlagRow> read_rows(const std::string& file) {
  std::ifstream in(source_dir() / "tests/config/fixtures/megatron_arguments" / file);
  std::vector<FlagRow> rows;
  std::string line;
  if (!std::getline(in, line)) return rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, '\t')) f.push_back(field);
    f.resize(8);
    rows.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6]});
  }
  return rows;
}

bool is_bool_action(const std::string& action) {
  return action == "store_true" || action == "store_false" || action == "bool_optional";
}

// The value a bare boolean flag stores into its dest.
bool flag_stores(const FlagRow& r) {
  if (r.action == "store_true") return true;
  if (r.action == "store_false") return false;
  return !r.flag.starts_with("--no-");  // BooleanOptionalAction: --x / --no-x
}

class MegatronArguments : public ::testing::TestWithParam<std::string> {};

TEST_P(MegatronArguments, EveryFlagIsKnownWithItsMeaning) {
  const Schema& schema = Schema::instance();
  std::vector<FlagRow> rows = read_rows(GetParam());
  ASSERT_GT(rows.size(), 50u) << GetParam();
  for (const FlagRow& r : rows) {
    SCOPED_TRACE(GetParam() + ": " + r.flag + " (dest " + r.dest + ")");
    CanonicalKey key = schema.canonical(r.dest);
    ASSERT_NE(key.spec, nullptr) << "dest unknown";
    FlagMatch m = schema.find_flag(r.flag);
    ASSERT_NE(m.spec, nullptr) << "flag unknown";
    EXPECT_EQ(m.spec->key, key.spec->key) << "the flag sets another key than Megatron's dest";
    bool dest_inverted = key.alias && key.alias->inverted;
    bool flag_inverted = m.alias && m.alias->inverted;
    if (is_bool_action(r.action)) {
      EXPECT_EQ(key.spec->type, ArgType::kBool);
      // A bare flag must store the same value into the canonical key as Megatron stores into its dest.
      bool want = flag_stores(r) != dest_inverted;
      ASSERT_TRUE(m.implied.has_value() || key.spec->type == ArgType::kBool);
      bool got = (m.implied ? *m.implied : true) != flag_inverted;
      EXPECT_EQ(got, want) << "a bare " << r.flag << " sets " << key.spec->key << " to " << got;
    } else {
      bool megatron_list = r.nargs == "+" || r.nargs == "*" || (!r.nargs.empty() && std::isdigit(r.nargs[0]) && r.nargs != "0" && r.nargs != "1");
      if (megatron_list) {
        EXPECT_TRUE(key.spec->is_list()) << "Megatron takes a list; " << key.spec->key << " is " << key.spec->type_name;
      }
      if (r.type == "int" && !megatron_list) {
        // A later Megatron may take a list where an older one took one number (moe_aux_loss_coeff).
        EXPECT_TRUE(key.spec->type == ArgType::kInt || key.spec->type == ArgType::kIntList ||
                    key.spec->type == ArgType::kLayerFreq)
            << key.spec->type_name;
      }
      if (r.type == "float" && !megatron_list) {
        EXPECT_TRUE(key.spec->type == ArgType::kFloat || key.spec->type == ArgType::kFloatList) << key.spec->type_name;
      }
      if (r.type == "moe_freq_type" || r.type == "la_freq_type") {
        EXPECT_EQ(key.spec->type_name, "layer_freq");
      }
      EXPECT_FALSE(m.implied.has_value()) << "a value flag spelled as store_true/false";
    }
    // Every choice Megatron offers is a choice here too.
    if (!r.choices.empty() && !key.alias) {
      std::stringstream each(r.choices);
      std::string choice;
      while (std::getline(each, choice, ','))
        EXPECT_TRUE(std::find(key.spec->choices.begin(), key.spec->choices.end(), choice) != key.spec->choices.end())
            << "choice " << choice << " missing from " << key.spec->key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, MegatronArguments,
                         ::testing::Values("megatron_d3528a2.tsv", "megatron_main.tsv", "rocm_megatron_lm_2024.tsv",
                                           "rocm_megatron_lm_fork.tsv"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.find('.'));
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// Booleans are booleans: no argument of type str carries a true/false default (Megatron's
// BooleanOptionalAction arguments once read as the string "false").
TEST(ArgumentTable, NoStringArgumentHasABooleanDefault) {
  for (const ArgumentSpec& spec : Schema::instance().all()) {
    if (spec.type != ArgType::kStr) continue;
    EXPECT_FALSE(spec.megatron_default.is_bool()) << spec.key;
    if (spec.primus_default) {
      EXPECT_FALSE(spec.primus_default->is_bool()) << spec.key;
    }
  }
}

// Every alias names a key of the table, and reads back through it.
TEST(ArgumentTable, AliasesNameTheirCanonicalKey) {
  const Schema& schema = Schema::instance();
  ASSERT_FALSE(schema.aliases().empty());
  for (const AliasSpec& alias : schema.aliases()) {
    CanonicalKey c = schema.canonical(alias.key);
    ASSERT_NE(c.spec, nullptr) << alias.key;
    EXPECT_EQ(c.spec->key, alias.target);
    EXPECT_EQ(c.alias, &alias);
    EXPECT_EQ(schema.find(alias.key), nullptr) << alias.key << " is both an argument and an alias";
  }
  EXPECT_EQ(schema.canonical("layernorm_epsilon").spec->key, "norm_epsilon");
  EXPECT_TRUE(schema.canonical("use_mamba_mem_eff_path").alias->inverted);
  EXPECT_EQ(schema.canonical("qk_nope_head_dim").spec->key, "qk_head_dim");
}

}  // namespace
