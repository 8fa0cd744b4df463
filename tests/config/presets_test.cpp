// Every preset (as the model of a one-line experiment) and every example experiment resolves.
#include <gtest/gtest.h>

#include "config/config_paths.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

std::vector<std::string> yaml_files(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".yaml") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string test_name(std::string n) {
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

// World size that fits the file's own parallel layout.
ResolvedConfig resolve_at_fitting_world(const std::filesystem::path& file, std::vector<std::string> cli = {}) {
  ResolvedConfig probe;
  for (int64_t world : {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}) {
    try {
      return resolve_file(file, cli, world);
    } catch (const primus::Error& e) {
      if (std::string(e.what()).find("world size") == std::string::npos &&
          std::string(e.what()).find("expert_model_parallel_size") == std::string::npos)
        throw;
    }
  }
  return resolve_file(file, cli, 1);  // rethrows the layout error
}

class Preset : public ::testing::TestWithParam<std::string> {};

TEST_P(Preset, ResolvesAsAModel) {
  const std::string name = GetParam();
  ScratchDir dir;
  // Bases alone (llama_base, language_model) lack the sizes: give them, as a sized preset would.
  auto exp = dir.write("e.yaml", "model: " + name + "\noverrides:\n  seq_length: 128\n");
  std::vector<std::string> sizes = {"--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
                                    "--max-position-embeddings", "4096", "--num-query-groups", "2"};
  ResolvedConfig c;
  try {
    c = resolve_at_fitting_world(exp);
  } catch (const primus::Error& e) {
    // A root (language_model, diffusion_model) leaves the sizes unset or null.
    std::string m = e.what();
    if (m.find("is not set") == std::string::npos && m.find("is set to null") == std::string::npos) throw;
    c = resolve_at_fitting_world(exp, sizes);
  }
  EXPECT_GT(c.args.num_layers, 0);
  EXPECT_GT(c.args.hidden_size, 0);
  EXPECT_EQ(c.args.hidden_size % c.args.num_attention_heads == 0 || c.at("kv_channels").origin.kind != Origin::Kind::kDerived,
            true);
}

INSTANTIATE_TEST_SUITE_P(Zoo, Preset, ::testing::ValuesIn(yaml_files(builtin_models_dir())),
                         [](const auto& info) { return test_name(info.param); });

class Example : public ::testing::TestWithParam<std::string> {};

TEST_P(Example, Resolves) {
  ResolvedConfig c = resolve_at_fitting_world(examples_dir() / GetParam());
  EXPECT_TRUE(c.args.mock_data || c.args.data_path || c.args.train_data_path) << "an example must name its data";
}

INSTANTIATE_TEST_SUITE_P(All, Example, ::testing::ValuesIn(yaml_files(examples_dir())),
                         [](const auto& info) { return test_name(info.param); });

TEST(PresetZoo, ChainsAsTheZooDescribes) {
  auto c = resolve_file(examples_dir() / "tiny_llama-pretrain.yaml");
  EXPECT_EQ(c.args.normalization, "RMSNorm");  // from llama_base
  EXPECT_TRUE(c.args.swiglu);
  EXPECT_FALSE(c.args.add_bias_linear);
  EXPECT_TRUE(c.args.untie_embeddings_and_output_weights);
  EXPECT_EQ(c.args.num_query_groups, 4);
  ScratchDir dir;
  for (auto [model, rotary, maxpos] : {std::tuple{"llama3.1_8B", 500000, 131072}, {"llama2_7B", 10000, 4096},
                                       {"mixtral_8x7B_v0.1", 1000000, 4096}, {"qwen2.5_7B", 1000000, 131072}}) {
    auto exp = dir.write(std::string("exp_") + model + ".yaml", std::string("model: ") + model + ".yaml\noverrides:\n  seq_length: 128\n");
    auto r = resolve_at_fitting_world(exp);
    EXPECT_EQ(r.args.rotary_base, rotary) << model;
    EXPECT_EQ(r.args.max_position_embeddings, maxpos) << model;
  }
}

}  // namespace
