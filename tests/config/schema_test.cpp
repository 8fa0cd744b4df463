// The schema knows every Megatron-LM argument of the reference table, and the trainer YAML
// generated from our table agrees with the schema compiled into the binary.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "config/schema.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

TEST(ConfigSchema, EveryMegatronArgumentIsKnownWithItsFlag) {
  std::ifstream in(std::filesystem::path(PRIMUS_SHARED_DIR) / "reference/megatron-args.tsv");
  ASSERT_TRUE(in) << "reference table missing";
  std::string line;
  std::getline(in, line);
  int rows = 0;
  const Schema& schema = Schema::instance();
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string flags, dest;
    std::getline(fields, flags, '\t');
    std::getline(fields, dest, '\t');
    // A dest Megatron-LM has since renamed is an alias of its canonical key here.
    const ArgumentSpec* spec = schema.canonical(dest).spec;
    ASSERT_NE(spec, nullptr) << dest;
    std::stringstream each(flags);
    std::string flag;
    while (std::getline(each, flag, '|')) EXPECT_EQ(schema.find_flag(flag).spec, spec) << flag;
    ++rows;
  }
  EXPECT_GT(rows, 500);
}

TEST(ConfigSchema, StoreFalseFlagsSetFalse) {
  const Schema& schema = Schema::instance();
  auto m = schema.find_flag("--disable-bias-linear");
  ASSERT_NE(m.spec, nullptr);
  EXPECT_EQ(m.spec->key, "add_bias_linear");
  EXPECT_EQ(m.implied, false);
  EXPECT_EQ(schema.find_flag("--no-bias-swiglu-fusion").spec->key, "bias_swiglu_fusion");
  EXPECT_EQ(schema.find_flag("--swiglu").implied, true);
  EXPECT_EQ(schema.find_flag("--tensor-model-parallel-size").spec->key, "tensor_model_parallel_size");
}

TEST(ConfigSchema, PrimusDefaultsFollowUpstream) {
  // Spot checks of primus-trainer-defaults.tsv: where upstream Primus sets a default, ours is the same.
  std::ifstream in(std::filesystem::path(PRIMUS_SHARED_DIR) / "reference/primus-trainer-defaults.tsv");
  std::string line;
  std::getline(in, line);
  const Schema& schema = Schema::instance();
  int checked = 0;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string key;
    std::getline(fields, key, '\t');
    const ArgumentSpec* spec = schema.find(key);
    ASSERT_NE(spec, nullptr) << key;
    ++checked;
  }
  EXPECT_EQ(checked, 481);
  EXPECT_EQ(schema.find("lr")->effective_default(), Value{2e-5});
  EXPECT_EQ(schema.find("log_avg_skip_iterations")->effective_default(), Value{int64_t{2}});
  EXPECT_EQ(schema.find("disable_tensorboard")->effective_default(), Value{true});
}

TEST(ConfigSchema, DefaultsOfTheGeneratedYamlMatchTheCompiledSchema) {
  ScratchDir dir;
  // A flat experiment that sets nothing: every value comes from pre_trainer.yaml -> trainer_base.yaml.
  auto c = resolve_file(dir.write("e.yaml", "num_layers: 2\nhidden_size: 64\nnum_attention_heads: 4\nseq_length: 32\n"
                                            "max_position_embeddings: 32\n"));
  const Schema& schema = Schema::instance();
  for (const auto& spec : schema.all()) {
    const Setting& s = c.values.at(spec.key);
    // Model defaults live in language_model.yaml, the root of the preset chain, not in the trainer files.
    if (s.origin.kind != Origin::Kind::kDefault || spec.primus_file == "model") continue;
    EXPECT_EQ(s.value, schema.coerce(spec, spec.effective_default(), s.origin)) << spec.key;
    EXPECT_NE(s.origin.file, "schema default") << spec.key << " is missing from trainer_base.yaml";
  }
}
