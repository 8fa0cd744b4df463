#include <gtest/gtest.h>

#include "config/layer_freq.hpp"
#include "config/value.hpp"
#include "core/error.hpp"

using namespace primus::config;

TEST(ConfigValue, PlainScalarsReadAsPrimusReadsThem) {
  EXPECT_TRUE(parse_plain_scalar("null").is_null());
  EXPECT_TRUE(parse_plain_scalar("~").is_null());
  EXPECT_EQ(parse_plain_scalar("true"), Value{true});
  EXPECT_EQ(parse_plain_scalar("off"), Value{false});
  EXPECT_EQ(parse_plain_scalar("42"), Value{int64_t{42}});
  EXPECT_EQ(parse_plain_scalar("-7"), Value{int64_t{-7}});
  EXPECT_EQ(parse_plain_scalar("1_000"), Value{int64_t{1000}});
  EXPECT_EQ(parse_plain_scalar("0x10"), Value{int64_t{16}});
  // PyYAML keeps 1e-5 a string; Primus turns it into a float, and so do we.
  Value v = parse_plain_scalar("1e-5");
  ASSERT_TRUE(v.is_float());
  EXPECT_DOUBLE_EQ(v.as_float(), 1e-5);
  EXPECT_TRUE(parse_plain_scalar("1.0e-5").is_float());
  EXPECT_TRUE(parse_plain_scalar("RMSNorm").is_string());
  EXPECT_TRUE(parse_plain_scalar("99,1,0").is_string());
  EXPECT_TRUE(parse_plain_scalar("e5").is_string());
}

TEST(ConfigValue, YamlFormReadsBackToTheSameValue) {
  for (const Value& v : {Value{}, Value{true}, Value{int64_t{-3}}, Value{0.1}, Value{1e-5}, Value{3.0},
                         Value{"RMSNorm"}, Value{"8"}, Value{"a: b"}, Value{"it's"}, Value{""}, Value{"null"},
                         Value{Value::List{Value{int64_t{1}}, Value{"x"}}}}) {
    Value back = parse_flow_literal(v.to_yaml());
    EXPECT_EQ(back, v) << v.to_yaml();
    EXPECT_EQ(back.data.index(), v.data.index()) << v.to_yaml();
  }
}

TEST(ConfigValue, JsonForm) {
  Value list{Value::List{Value{1}, Value{"a\"b"}, Value{}}};
  EXPECT_EQ(list.to_json(), "[1, \"a\\\"b\", null]");
  EXPECT_EQ(Value{2.0}.to_json(), "2.0");
}

TEST(ConfigLayerFreq, ListExpressionsExpandWithoutEvaluatingCode) {
  LayerFreq f = parse_layer_freq(Value{"([0]*3+[1]*58)"}, "moe_layer_freq");
  ASSERT_EQ(f.pattern.size(), 61u);
  EXPECT_EQ(f.pattern[2], 0);
  EXPECT_EQ(f.pattern[3], 1);
  EXPECT_EQ(f.to_value(), Value{"([0]*3+[1]*58)"});
  EXPECT_EQ(parse_layer_freq(Value{"[0, 1, 1]"}, "k").pattern, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(parse_layer_freq(Value{"[1,0]*2"}, "k").pattern, (std::vector<int64_t>{1, 0, 1, 0}));
  // Groups repeat too, as in Kimi K3's linear_attention_freq.
  EXPECT_EQ(parse_layer_freq(Value{"([1]*2+[0])*2+[1]"}, "k").pattern, (std::vector<int64_t>{1, 1, 0, 1, 1, 0, 1}));
  EXPECT_EQ(parse_layer_freq(Value{"(([0]+[1])*2)*2"}, "k").pattern.size(), 8u);
  EXPECT_THROW(parse_layer_freq(Value{"[1]*99999999999"}, "k"), primus::Error);
  EXPECT_EQ(*parse_layer_freq(Value{int64_t{2}}, "k").every, 2);
  auto every2 = parse_layer_freq(Value{int64_t{2}}, "k").per_layer(4);
  EXPECT_EQ(every2, (std::vector<bool>{true, false, true, false}));
  EXPECT_THROW(parse_layer_freq(Value{"__import__('os')"}, "k"), primus::Error);
  EXPECT_THROW(parse_layer_freq(Value{"([0]*3+[1]*58"}, "k"), primus::Error);
  EXPECT_THROW(parse_layer_freq(Value{"[0]*3"}, "k").per_layer(4), primus::Error);
}

namespace {

// Layer patterns users (or a fuzzer) write that must be refused with a line, not an exception
// escaping, a hang expanding billions of entries, or a division by zero later.
struct BadPattern {
  const char* name;
  primus::config::Value value;
  std::string expected;
};

class ConfigLayerFreqBad : public ::testing::TestWithParam<BadPattern> {};

TEST_P(ConfigLayerFreqBad, RefusedWithALine) {
  std::string message;
  try {
    primus::config::parse_layer_freq(GetParam().value, "moe_layer_freq");
  } catch (const primus::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, ConfigLayerFreqBad,
    ::testing::Values(BadPattern{"repeat_count_beyond_int64", primus::config::Value{"[0]*99999999999999999999"},
                                 "expected an integer of at most 18 digits"},
                      BadPattern{"huge_repeat", primus::config::Value{"([0]*3+[1]*99999999999)"},
                                 "repeats to more than 65536 layers"},
                      BadPattern{"many_terms", primus::config::Value{"([1]*40000+[0]*40000)"}, "has more than 65536 layers"},
                      BadPattern{"every_zero", primus::config::Value{int64_t{0}}, "0 is not a layer frequency"},
                      BadPattern{"every_negative_text", primus::config::Value{"-3"}, "-3 is not a layer frequency"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
