// Today's upstream Primus: every example experiment of ../shared/upstream-primus-2026 (MI300X,
// MI325X, MI355X) resolves here, unchanged, at the smallest world size its layout allows, to the
// values upstream's own loader gives — or is refused with the reason named. The expected values
// are computed independently of our resolver, from upstream's files by upstream's merge rules
// (tools/reference/upstream_2026_expected.py, run by CTest before this suite into
// build/upstream_2026_expected.json); our deliberate differences are listed there per key.
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "config/layer_freq.hpp"
#include "config/schema.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

std::filesystem::path upstream_2026() { return std::filesystem::path(PRIMUS_SHARED_DIR) / "upstream-primus-2026"; }

const nlohmann::json& expectations() {
  static const nlohmann::json all = [] {
    std::ifstream in(std::filesystem::path(PRIMUS_BINARY_DIR) / "upstream_2026_expected.json");
    nlohmann::json j = nlohmann::json::array();
    if (in) in >> j;
    return j;
  }();
  return all;
}

std::vector<std::string> files() {
  std::vector<std::string> out;
  for (const auto& e : expectations()) out.push_back(e["file"].get<std::string>());
  return out;
}

Value from_json(const nlohmann::json& j) {
  if (j.is_null()) return Value{};
  if (j.is_boolean()) return Value{j.get<bool>()};
  if (j.is_number_integer()) return Value{j.get<int64_t>()};
  if (j.is_number()) return Value{j.get<double>()};
  if (j.is_string()) return Value{j.get<std::string>()};
  Value::List items;
  for (const auto& item : j) items.push_back(from_json(item));
  return Value{items};
}

// Upstream keeps a value as YAML typed it; ours is typed by the schema. Same meaning is equal:
// numbers by value, a string of a number to that number, a scalar to a one-element list, layer
// patterns by the layers they select.
bool same_meaning(const ArgumentSpec& spec, const Value& ours, const Value& upstream, int64_t num_layers) {
  if (ours == upstream) return true;
  // Upstream's null for a key without effect here is "not set": we keep its default.
  if (upstream.is_null() && !spec.acted_on && !spec.refused) return true;
  if (spec.type == ArgType::kLayerFreq && !ours.is_null() && !upstream.is_null()) {
    try {
      return parse_layer_freq(ours, spec.key).per_layer(num_layers) ==
             parse_layer_freq(upstream, spec.key).per_layer(num_layers);
    } catch (const primus::Error&) {
      return false;
    }
  }
  try {
    Origin o{Origin::Kind::kExperiment, "upstream", 0, "", ""};
    Value typed = Schema::instance().coerce(spec, upstream, o);
    if (ours == typed) return true;
    if (spec.is_list() && !ours.is_list() && typed.is_list() && typed.as_list().size() == 1)
      return ours == typed.as_list()[0];
    if (spec.is_list() && ours.is_list() && !typed.is_list() && ours.as_list().size() == 1)
      return ours.as_list()[0] == typed;
  } catch (const primus::Error&) {
  }
  return false;
}

class Upstream2026 : public ::testing::TestWithParam<std::string> {};

TEST_P(Upstream2026, ResolvesToUpstreamValues) {
  const nlohmann::json* entry = nullptr;
  for (const auto& e : expectations())
    if (e["file"] == GetParam()) entry = &e;
  ASSERT_NE(entry, nullptr);
  auto path = upstream_2026() / "examples/megatron/configs" / GetParam();
  std::optional<int64_t> world;
  if (entry->contains("world")) world = (*entry)["world"].get<int64_t>();
  if ((*entry)["status"] == "refused") {
    std::string reason = (*entry)["reason"];
    std::string message = error_of([&] { resolve_file(path, {}, world.value_or(1)); });
    ASSERT_FALSE(message.empty()) << GetParam() << " resolves, but " << reason;
    // Our message names the same cause.
    std::string cause = reason.starts_with("trainer_class") ? reason
                        : reason.starts_with("a Transformer Engine precision recipe") ? "Transformer Engine precision recipe"
                        : reason.starts_with("a template") ? "placeholder"
                                                            : reason;
    EXPECT_NE(message.find(cause), std::string::npos) << message << "\n  expected the cause: " << reason;
    return;
  }
  ResolvedConfig c = resolve_file(path, {}, *world);
  EXPECT_EQ(c.module, (*entry)["module"].get<std::string>());
  const Schema& schema = Schema::instance();
  int compared = 0;
  for (const auto& [key, value] : (*entry)["expected"].items()) {
    CanonicalKey k = schema.canonical(key);
    ASSERT_NE(k.spec, nullptr) << GetParam() << ": upstream's key " << key << " is unknown here";
    if (k.alias) continue;  // compared under its canonical key
    Value want = from_json(value);
    const Setting& got = c.at(k.spec->key);
    // Megatron derives these in validate_args (num_query_groups from the heads, sequence_parallel
    // off without tensor parallelism, ...); we derive them at resolution, where upstream's loader
    // still shows what was written.
    if (got.origin.kind == Origin::Kind::kDerived &&
        (want.is_null() || k.spec->key == "sequence_parallel" || k.spec->key == "num_virtual_stages_per_pipeline_rank"))
      continue;
    ++compared;
    std::string why = (*entry)["deviations"].contains(key) ? " (our deliberate difference: " +
                                                                 (*entry)["deviations"][key].get<std::string>() + ")"
                                                           : "";
    EXPECT_TRUE(same_meaning(*k.spec, got.value, want, c.args.num_layers))
        << GetParam() << ": " << key << " = " << got.value.to_yaml() << " from " << got.origin.describe()
        << ", expected " << want.to_yaml() << why;
  }
  EXPECT_GT(compared, 300) << "too few keys compared";
}

INSTANTIATE_TEST_SUITE_P(Examples, Upstream2026, ::testing::ValuesIn(files()), [](const auto& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// The whole set is there: a missing or empty expectation file must not pass quietly.
TEST(Upstream2026Set, EveryExampleIsCovered) {
  size_t yaml = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(upstream_2026() / "examples/megatron/configs"))
    if (e.path().extension() == ".yaml") ++yaml;
  EXPECT_EQ(yaml, 278u);
  EXPECT_EQ(expectations().size(), yaml);
  size_t resolves = 0;
  for (const auto& e : expectations()) resolves += e["status"] == "resolves";
  EXPECT_GE(resolves, 240u);
}

}  // namespace
