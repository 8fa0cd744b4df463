// Megatron-LM interop: export-megatron for several families and layouts is read back with
// torch.load and compared with Megatron-Core's names, shapes and shards derived independently
// (tools/reference/megatron/megatron_reference.py); import-megatron brings it back bit-exactly
// and reads checkpoints written by torch.save itself. The pickle reader refuses code.
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/hf/hf_convert.hpp"
#include "checkpoint/megatron/megatron_convert.hpp"
#include "checkpoint/megatron/pickle.hpp"
#include "checkpoint/megatron/torch_archive.hpp"
#include "checkpoint/model_io.hpp"
#include "checkpoint/training_state.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "hf_fixture.hpp"
#include "io/temp_dir.hpp"

namespace primus::checkpoint {
namespace {

namespace fs = std::filesystem;
using test::HfFixture;

const std::string kScript = std::string(PRIMUS_SOURCE_DIR) + "/tools/reference/megatron/megatron_reference.py";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct Case {
  std::string family;
  megatron::MegatronLayout layout;
  bool bf16 = false;
  std::string name;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  auto layout = [](std::int64_t tp, std::int64_t pp, std::int64_t ep, bool te, bool grouped) {
    megatron::MegatronLayout l;
    l.tp = tp;
    l.pp = pp;
    l.ep = ep;
    l.transformer_engine = te;
    l.grouped_gemm = grouped;
    return l;
  };
  return {
      {"llama", layout(2, 2, 1, true, false), false, "llama_tp2_pp2_te"},
      {"llama32_tied", layout(1, 2, 1, false, false), true, "llama32_tied_pp2_local_bf16"},
      {"qwen2", layout(2, 1, 1, true, false), false, "qwen2_tp2"},
      {"qwen3_moe", layout(2, 1, 2, true, true), false, "qwen3_moe_tp2_ep2_grouped"},
      {"mixtral", layout(1, 1, 2, false, false), false, "mixtral_ep2_local"},
      {"deepseek_v2", layout(1, 3, 2, false, false), false, "deepseek_v2_pp3_ep2_local"},
      {"deepseek_v3", layout(2, 1, 4, true, true), false, "deepseek_v3_tp2_ep4_grouped"},
  };
}

std::string layout_flags(const Case& c) {
  return fmt::format(" --tp {} --pp {} --ep {} --impl {}{}{}", c.layout.tp, c.layout.pp, c.layout.ep,
                     c.layout.transformer_engine ? "transformer_engine" : "local", c.layout.grouped_gemm ? " --grouped" : "",
                     c.bf16 ? " --bf16" : "");
}

class MegatronInterop : public ::testing::TestWithParam<Case> {};

TEST_P(MegatronInterop, ExportReadByTorchAndImportedBackBitExactly) {
  const Case& c = GetParam();
  test::TempDir tmp;
  HfFixture fx(c.family);
  auto m = fx.model();
  const auto tensors = model_tensors(*m);
  hf::import_hf(fx.resolved.args, fx.config, tensors, fx.hf_dir, tmp / "ckpt", nlohmann::json::object());
  CheckpointReader first(*resolve_checkpoint_dir(tmp / "ckpt"));
  megatron::ExportMegatronOptions opt;
  opt.layout = c.layout;
  opt.bf16 = c.bf16;
  megatron::export_megatron(fx.config, tensors, first, resolved_arguments(fx.resolved), tmp / "meg", opt);
  const std::string cmd = fmt::format("/usr/bin/python3 {} check {} {}{} > {} 2>&1", kScript, fx.hf_dir.string(),
                                      (tmp / "meg").string(), layout_flags(c), (tmp / "log").string());
  const int rc = std::system(cmd.c_str());
  std::ifstream log(tmp / "log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("ok:"), std::string::npos) << text;
  // Back into the engine's format.
  const auto r = megatron::import_megatron(fx.resolved.args, fx.config, tensors, tmp / "meg", tmp / "back", nlohmann::json::object());
  EXPECT_EQ(r.layout.tp, c.layout.tp);
  EXPECT_EQ(r.layout.pp, c.layout.pp);
  EXPECT_EQ(r.layout.ep, c.layout.ep);
  CheckpointReader second(r.checkpoint);
  EXPECT_EQ(second.verify(), "");
  for (const ModelTensor& t : tensors) {
    std::vector<float> want = first.read_whole(t.name);
    if (c.bf16)
      for (float& x : want) x = round_bf16(x);
    std::vector<float> got(want.size());
    second.read(t.name, whole_region(t.rows, t.cols), got.data(), is_vocabulary_tensor(t.name));
    EXPECT_TRUE(got == want) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, MegatronInterop, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(MegatronInteropTorch, ImportsACheckpointWrittenByTorchSave) {
  test::TempDir tmp;
  for (const char* family : {"llama", "deepseek_v3"}) {
    HfFixture fx(family);
    auto m = fx.model();
    const auto tensors = model_tensors(*m);
    const fs::path meg = tmp / (std::string(family) + "_meg");
    const std::string flags = std::string(family) == "llama" ? " --tp 2 --pp 2" : " --tp 2 --ep 2 --grouped";
    ASSERT_EQ(std::system(fmt::format("/usr/bin/python3 {} write {} {}{} > /dev/null", kScript, fx.hf_dir.string(),
                                      meg.string(), flags).c_str()), 0);
    const auto r = megatron::import_megatron(fx.resolved.args, fx.config, tensors, meg, tmp / (std::string(family) + "_ck"),
                                             nlohmann::json::object());
    EXPECT_EQ(r.iteration, 7);
    CheckpointReader got(r.checkpoint);
    EXPECT_EQ(got.state()["training"]["consumed_train_samples"], 56);
    hf::import_hf(fx.resolved.args, fx.config, tensors, fx.hf_dir, tmp / (std::string(family) + "_hf"), nlohmann::json::object());
    CheckpointReader want(*resolve_checkpoint_dir(tmp / (std::string(family) + "_hf")));
    for (const ModelTensor& t : tensors) EXPECT_TRUE(got.read_whole(t.name) == want.read_whole(t.name)) << family << " " << t.name;
  }
}

TEST(MegatronInteropTorch, ImportNamesMismatchesAndMissingFiles) {
  test::TempDir tmp;
  HfFixture fx("llama");
  auto m = fx.model();
  const auto tensors = model_tensors(*m);
  const fs::path meg = tmp / "meg";
  ASSERT_EQ(std::system(fmt::format("/usr/bin/python3 {} write {} {} --tp 2 > /dev/null", kScript, fx.hf_dir.string(),
                                    meg.string()).c_str()), 0);
  // Another architecture.
  model::ModelConfig other = fx.config;
  config::Args a = fx.resolved.args;
  other.num_layers = 3;
  std::string msg = error_of([&] { megatron::import_megatron(a, other, tensors, meg, tmp / "x", nlohmann::json::object()); });
  EXPECT_NE(msg.find("the Megatron checkpoint's num_layers is 2 but the experiment's is 3"), std::string::npos) << msg;
  // A rank folder gone.
  fs::remove_all(meg / "iter_0000007" / "mp_rank_01");
  msg = error_of([&] { megatron::import_megatron(a, fx.config, tensors, meg, tmp / "y", nlohmann::json::object()); });
  EXPECT_NE(msg.find("holds 1 rank folders but its args say TP 2"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(tmp / "y" / "iter_0000007"));
  // A truncated file.
  const fs::path f = meg / "iter_0000007" / "mp_rank_00" / "model_optim_rng.pt";
  fs::resize_file(f, fs::file_size(f) - 2000);
  msg = error_of([&] { megatron::TorchFile t(f); });
  EXPECT_NE(msg.find("model_optim_rng.pt: not a readable torch.save archive"), std::string::npos) << msg;
}

TEST(MegatronPickle, RefusesCodeAndRoundTripsValues) {
  // The classic: os.system('echo pwned') via GLOBAL + REDUCE. Nothing is executed either way.
  const std::string evil = std::string("\x80\x02") + "cos\nsystem\n(X\x0b\x00\x00\x00" + "echo pwned" + "tR.";
  std::string msg = error_of([&] { megatron::read_pickle(evil, "evil.pkl"); });
  EXPECT_NE(msg.find("refusing 'os.system'"), std::string::npos) << msg;
  const std::string evil2 = std::string("\x80\x02") + "cbuiltins\neval\n(X\x01\x00\x00\x00" + "1" + "tR.";
  msg = error_of([&] { megatron::read_pickle(evil2, "evil.pkl"); });
  EXPECT_NE(msg.find("refusing 'builtins.eval'"), std::string::npos) << msg;
  const std::string evil3 = std::string("\x80\x02") + "ctorch\nload\n)R.";
  msg = error_of([&] { megatron::read_pickle(evil3, "evil.pkl"); });
  EXPECT_NE(msg.find("refusing 'torch.load'"), std::string::npos) << msg;
  msg = error_of([&] { megatron::read_pickle(std::string("\x80\x02}q\x00(X"), "cut.pkl"); });
  EXPECT_NE(msg.find("cut.pkl: unreadable pickle"), std::string::npos) << msg;
  // Writer -> reader.
  auto root = megatron::py_dict();
  auto ns = megatron::py_dict();
  ns->namespace_ = true;
  megatron::py_set(*ns, "num_layers", megatron::py_int(32));
  megatron::py_set(*ns, "lr", megatron::py_float(3e-4));
  megatron::py_set(*ns, "big", megatron::py_int(1LL << 40));
  megatron::py_set(*ns, "neg", megatron::py_int(-70000));
  megatron::py_set(*ns, "name", megatron::py_str("llama"));
  megatron::py_set(*ns, "none", megatron::py_none());
  megatron::py_set(*root, "args", ns);
  megatron::TensorRef t;
  t.key = "0";
  t.storage_type = "FloatStorage";
  t.storage_numel = 6;
  t.size = {2, 3};
  t.stride = {3, 1};
  auto model = megatron::py_dict(true);
  megatron::py_set(*model, "w", megatron::py_tensor(t));
  megatron::py_set(*root, "model", model);
  const auto back = megatron::read_pickle(megatron::write_pickle(*root), "x");
  const auto* args = back->get("args");
  ASSERT_TRUE(args && args->namespace_);
  EXPECT_EQ(args->get("num_layers")->i, 32);
  EXPECT_EQ(args->get("lr")->f, 3e-4);
  EXPECT_EQ(args->get("big")->i, 1LL << 40);
  EXPECT_EQ(args->get("neg")->i, -70000);
  EXPECT_EQ(args->get("name")->s, "llama");
  EXPECT_EQ(back->get("model")->get("w")->tensor.size, (std::vector<std::int64_t>{2, 3}));
}

}  // namespace
}  // namespace primus::checkpoint
