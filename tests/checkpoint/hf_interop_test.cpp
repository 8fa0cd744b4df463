// Hugging Face interop against the independent reference (tools/reference/hf/): for every family
// the engine trains, import a tiny random HF model and compare the engine's logits with the
// reference's (<= 1e-5 relative L2, fp32); export it back and compare the files bit for bit; a
// config.json that disagrees with the experiment names the key; a folder with a missing, extra
// or mis-shaped tensor names it.
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/hf/hf_convert.hpp"
#include "checkpoint/model_io.hpp"
#include "core/error.hpp"
#include "hf_fixture.hpp"
#include "io/safetensors_writer.hpp"
#include "io/temp_dir.hpp"

namespace primus::checkpoint {
namespace {

namespace fs = std::filesystem;
using test::HfFixture;

hf::ImportResult import_fixture(const HfFixture& fx, const model::GPTModel& m, const fs::path& out,
                                const fs::path& hf_dir = {}) {
  return hf::import_hf(fx.resolved.args, fx.config, model_tensors(m), hf_dir.empty() ? fx.hf_dir : hf_dir, out,
                       nlohmann::json::object());
}

// The engine's logits [rows, vocab] for the prompt (padded to seq_length with token 0: causal
// attention keeps the first rows independent of the padding).
std::vector<float> engine_logits(model::GPTModel& m, const std::vector<std::int32_t>& prompt, std::int64_t vocab) {
  const std::int64_t S = m.config().seq_length, V = m.config().padded_vocab;
  std::vector<std::int32_t> tokens(static_cast<size_t>(S), 0), labels(static_cast<size_t>(S), 0);
  std::copy(prompt.begin(), prompt.end(), tokens.begin());
  std::vector<float> mask(static_cast<size_t>(S), 1.0f), logits(static_cast<size_t>(S * V));
  m.forward_loss(model::MicroBatch{tokens.data(), labels.data(), mask.data()}, logits.data());
  std::vector<float> out;
  for (std::size_t t = 0; t < prompt.size(); ++t)
    out.insert(out.end(), logits.begin() + static_cast<std::ptrdiff_t>(t * V), logits.begin() + static_cast<std::ptrdiff_t>(t * V + vocab));
  return out;
}

class HfInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(HfInterop, ImportedModelMatchesTheReferenceLogits) {
  test::TempDir tmp;
  HfFixture fx(GetParam());
  auto m = fx.model();
  const hf::ImportResult r = import_fixture(fx, *m, tmp / "ckpt");
  EXPECT_EQ(r.checkpoint, tmp / "ckpt" / "release");
  CheckpointReader reader(*resolve_checkpoint_dir(tmp / "ckpt"));
  EXPECT_EQ(reader.verify(), "");
  read_model(reader, *m);
  io::SafetensorsReader expected(fx.dir / "expected.safetensors");
  const auto prompt = expected.read_i32("prompt");
  const auto want = expected.read_f32("logits");
  const auto got = engine_logits(*m, prompt, 256);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(test::rel_l2(got.data(), want.data(), static_cast<std::int64_t>(got.size())), 1e-5) << GetParam();
}

TEST_P(HfInterop, ExportGivesBackTheSameFilesAndReimportsBitExactly) {
  test::TempDir tmp;
  HfFixture fx(GetParam());
  auto m = fx.model();
  import_fixture(fx, *m, tmp / "ckpt");
  CheckpointReader first(*resolve_checkpoint_dir(tmp / "ckpt"));
  nlohmann::json hf_config;
  std::ifstream(fx.hf_dir / "config.json") >> hf_config;
  hf::ExportOptions opt;
  opt.bf16 = hf_config["torch_dtype"] == "bfloat16";
  opt.max_shard_bytes = GetParam() == "qwen3_moe" ? 300000 : 2ull << 30;
  const hf::ExportResult ex = hf::export_hf(fx.resolved.args, fx.config, model_tensors(*m), first, tmp / "hf", opt);
  EXPECT_EQ(hf::model_type(ex.family), hf_config["model_type"].get<std::string>());
  // Every tensor of the original is in the export with the same bytes, and nothing else.
  std::map<std::string, std::vector<std::byte>> original, exported;
  auto collect = [](const fs::path& dir, std::map<std::string, std::vector<std::byte>>& out) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".safetensors") continue;
      io::SafetensorsReader r(e.path());
      for (const auto& t : r.tensors()) {
        auto b = r.bytes(t.name);
        out[t.name].assign(b.begin(), b.end());
      }
    }
  };
  collect(fx.hf_dir, original);
  collect(tmp / "hf", exported);
  ASSERT_EQ(original.size(), exported.size());
  for (const auto& [name, bytes] : original) {
    ASSERT_TRUE(exported.count(name)) << name;
    EXPECT_TRUE(bytes == exported[name]) << name;
  }
  EXPECT_EQ(fs::exists(tmp / "hf" / "model.safetensors.index.json"), GetParam() == "qwen3_moe");
  // The exported config.json passes the import check; the model comes back bit-exact.
  auto m2 = fx.model();
  import_fixture(fx, *m2, tmp / "ckpt2", tmp / "hf");
  CheckpointReader second(*resolve_checkpoint_dir(tmp / "ckpt2"));
  for (const ModelTensor& t : model_tensors(*m)) EXPECT_EQ(first.read_whole(t.name), second.read_whole(t.name)) << t.name;
}

INSTANTIATE_TEST_SUITE_P(Families, HfInterop, ::testing::ValuesIn(test::hf_families()),
                         [](const auto& info) { return info.param; });

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A copy of a fixture's HF folder to damage.
fs::path copy_hf(const HfFixture& fx, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(fx.hf_dir)) fs::copy_file(e.path(), to / e.path().filename());
  return to;
}

TEST(HfInteropErrors, ConfigMismatchNamesTheKey) {
  test::TempDir tmp;
  HfFixture fx("llama");
  auto m = fx.model();
  const fs::path dir = copy_hf(fx, tmp / "hf");
  auto edit = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j;
    std::ifstream(fx.hf_dir / "config.json") >> j;
    f(j);
    std::ofstream(dir / "config.json") << j.dump();
  };
  edit([](nlohmann::json& j) { j["num_key_value_heads"] = 4; });
  std::string msg = error_of([&] { import_fixture(fx, *m, tmp / "c1", dir); });
  EXPECT_NE(msg.find("config.json: num_key_value_heads is 4 but the experiment's num_query_groups gives 2"), std::string::npos) << msg;
  edit([](nlohmann::json& j) { j["rope_scaling"]["factor"] = 16.0; });
  msg = error_of([&] { import_fixture(fx, *m, tmp / "c2", dir); });
  EXPECT_NE(msg.find("rope_scaling.factor is 16.0 but the experiment's rope_scaling_factor gives 8.0"), std::string::npos) << msg;
  edit([](nlohmann::json& j) { j["model_type"] = "gpt2"; });
  msg = error_of([&] { import_fixture(fx, *m, tmp / "c3", dir); });
  EXPECT_NE(msg.find("model_type 'gpt2' is not one this program converts"), std::string::npos) << msg;
  edit([](nlohmann::json& j) { j.erase("hidden_size"); });
  msg = error_of([&] { import_fixture(fx, *m, tmp / "c4", dir); });
  EXPECT_NE(msg.find("hidden_size is missing"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(tmp / "c4" / "release"));
}

TEST(HfInteropErrors, MissingExtraAndMisshapedTensorsAreNamed) {
  test::TempDir tmp;
  HfFixture fx("qwen2");
  auto m = fx.model();
  io::SafetensorsReader src(fx.hf_dir / "model.safetensors");
  auto rewrite = [&](const std::function<void(std::map<std::string, std::vector<float>>&)>& f) {
    std::map<std::string, std::vector<float>> t;
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const auto& e : src.tensors()) {
      t[e.name] = src.read_f32(e.name);
      shapes[e.name] = e.shape;
    }
    f(t);
    const fs::path dir = copy_hf(fx, tmp / ("hf" + std::to_string(std::rand())));
    io::SafetensorsWriter w;
    for (auto& [name, v] : t) {
      auto shape = shapes.count(name) ? shapes[name] : std::vector<std::int64_t>{static_cast<std::int64_t>(v.size())};
      if (name == "model.layers.0.self_attn.k_proj.bias" && v.size() == 16) shape = {16};
      w.add(name, shape, v);
    }
    w.write(dir / "model.safetensors");
    return dir;
  };
  fs::path d = rewrite([](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  std::string msg = error_of([&] { import_fixture(fx, *m, tmp / "a", d); });
  EXPECT_NE(msg.find("tensor 'model.layers.1.mlp.up_proj.weight' is missing (needed for 'decoder.layers.1.mlp.linear_fc1.weight')"),
            std::string::npos) << msg;
  d = rewrite([](auto& t) { t["model.layers.0.self_attn.rotary_extra.weight"] = {1.0f}; });
  msg = error_of([&] { import_fixture(fx, *m, tmp / "b", d); });
  EXPECT_NE(msg.find("tensor 'model.layers.0.self_attn.rotary_extra.weight' is not part of the experiment's model"),
            std::string::npos) << msg;
  d = rewrite([](auto& t) { t["model.layers.0.self_attn.k_proj.bias"].resize(16); });
  msg = error_of([&] { import_fixture(fx, *m, tmp / "c", d); });
  EXPECT_NE(msg.find("tensor 'model.layers.0.self_attn.k_proj.bias' has shape [16] but the experiment's model needs [32]"),
            std::string::npos) << msg;
}

TEST(HfInteropErrors, ExportRefusesWhatTheFamilyCannotExpress) {
  test::TempDir tmp;
  HfFixture fx("llama");
  auto m = fx.model();
  import_fixture(fx, *m, tmp / "ckpt");
  CheckpointReader r(*resolve_checkpoint_dir(tmp / "ckpt"));
  config::Args a = fx.resolved.args;
  model::ModelConfig c = fx.config;
  c.norm = model::Norm::LayerNorm;
  a.normalization = "LayerNorm";
  std::string msg = error_of([&] { hf::export_hf(a, c, model_tensors(*m), r, tmp / "out", {}); });
  EXPECT_NE(msg.find("the experiment's normalization LayerNorm has no counterpart in Hugging Face's llama models"),
            std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  fs::create_directories(tmp / "full");
  std::ofstream(tmp / "full" / "x") << "x";
  msg = error_of([&] { hf::export_hf(fx.resolved.args, fx.config, model_tensors(*m), r, tmp / "full", {}); });
  EXPECT_NE(msg.find("already exists and is not an empty folder"), std::string::npos) << msg;
}

}  // namespace
}  // namespace primus::checkpoint
