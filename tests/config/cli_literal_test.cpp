// Upstream Primus' reading of command-line values (its legacy override rules): what a value
// typed after `key=` or `--key` means before the schema types it.
#include <gtest/gtest.h>

#include "config/cli_literal.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

TEST(CliLiteral, FollowsUpstreamRules) {
  EXPECT_EQ(parse_cli_literal("true"), Value{true});
  EXPECT_EQ(parse_cli_literal("FALSE"), Value{false});
  EXPECT_EQ(parse_cli_literal("False"), Value{false});
  EXPECT_TRUE(parse_cli_literal("None").is_null());
  EXPECT_TRUE(parse_cli_literal("null").is_null());
  EXPECT_EQ(parse_cli_literal("42"), Value{42});
  EXPECT_EQ(parse_cli_literal("-7"), Value{-7});
  EXPECT_EQ(parse_cli_literal("1_000"), Value{1000});
  EXPECT_EQ(parse_cli_literal("0x10"), Value{16});
  EXPECT_TRUE(parse_cli_literal("1e-5").is_float());
  EXPECT_EQ(parse_cli_literal("1e-5"), Value{1e-5});
  EXPECT_EQ(parse_cli_literal(".5"), Value{0.5});
  EXPECT_EQ(parse_cli_literal("2."), Value{2.0});
  EXPECT_EQ(parse_cli_literal("[1, 2]"), (Value{Value::List{Value{1}, Value{2}}}));
  EXPECT_EQ(parse_cli_literal("(1,'a')"), (Value{Value::List{Value{1}, Value{"a"}}}));
  EXPECT_EQ(parse_cli_literal("'quoted text'"), Value{"quoted text"});
  // Text that Python cannot evaluate stays text, as upstream keeps it.
  EXPECT_EQ(parse_cli_literal("seq_aux_loss"), Value{"seq_aux_loss"});
  EXPECT_EQ(parse_cli_literal("yes"), Value{"yes"});
  EXPECT_EQ(parse_cli_literal("inf"), Value{"inf"});
  EXPECT_EQ(parse_cli_literal("1e"), Value{"1e"});
  EXPECT_EQ(parse_cli_literal("meta-llama/Llama-3.1-8B"), Value{"meta-llama/Llama-3.1-8B"});
}

TEST(CliLiteral, BadListsAndMappingsAreClearErrors) {
  EXPECT_EQ(parse_cli_literal("[1, 2"), Value{"[1, 2"});  // not closed: stays text
  EXPECT_NE(error_of([] { parse_cli_literal("[1,,2]"); }).find("empty item"), std::string::npos);
  ScratchDir dir;
  auto exp = dir.write("e.yaml", "model: llama3_8B.yaml\noverrides:\n  num_layers: 2\n");
  std::string m = error_of([&] { resolve_file(exp, {"lora={'enabled': True}"}); });
  EXPECT_NE(m.find("'lora' is a block of settings"), std::string::npos) << m;
  EXPECT_NE(m.find("lora.enabled=true"), std::string::npos) << m;
  m = error_of([&] { resolve_file(exp, {"torch_compile.enabled=true"}); });
  EXPECT_NE(m.find("unknown argument 'torch_compile.enabled'"), std::string::npos) << m;
  EXPECT_NE(m.find("torch_compile.enable"), std::string::npos) << m;
}
