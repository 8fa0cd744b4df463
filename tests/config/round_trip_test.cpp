// `config show --format yaml` output is itself an experiment that resolves to the same values.
#include <gtest/gtest.h>

#include "config/config_printer.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

class RoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(RoundTrip, ShownYamlResolvesToTheSameValues) {
  auto first = resolve_file(examples_dir() / GetParam(), {"--seed", "9", "--data-path", "0.3", "a", "0.7", "b",
                                                          "--mock_data", "false"});
  ScratchDir dir;
  auto shown = dir.write("shown.yaml", format_resolved(first, OutputFormat::kYaml, true));
  auto second = resolve_file(shown);
  ASSERT_EQ(first.values.size(), second.values.size());
  for (const auto& [key, s] : first.values) {
    const Value& again = second.values.at(key).value;
    EXPECT_EQ(again, s.value) << key << ": " << s.value.to_yaml() << " came back as " << again.to_yaml();
    EXPECT_EQ(again.data.index(), s.value.data.index()) << key;
  }
  EXPECT_EQ(first.derived.size(), second.derived.size());
  EXPECT_EQ(format_resolved(first, OutputFormat::kJson, false), format_resolved(second, OutputFormat::kJson, false));
}

INSTANTIATE_TEST_SUITE_P(Examples, RoundTrip,
                         ::testing::Values("tiny_llama-pretrain.yaml", "tiny_mixtral-pretrain.yaml",
                                           "tiny_deepseek-pretrain.yaml", "tiny_deepseek_v3-pretrain.yaml",
                                           "tiny_qwen3-pretrain.yaml", "tiny_qwen3_moe-pretrain.yaml",
                                           "llama3.1_8B-pretrain.yaml"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });
