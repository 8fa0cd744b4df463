// Generation with a KV cache against the HF reference's greedy continuations (full
// recomputation in float64): identical ids, and each step's logits within 1e-5 relative — for
// every family, with the prompt decoded in one chunk and in chunks smaller than the prompt.
// Sampling: reproducible per seed, top-k / top-p restrict the candidates, frequencies follow
// the renormalised softmax.
#include <gtest/gtest.h>

#include <map>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/hf/hf_convert.hpp"
#include "checkpoint/model_io.hpp"
#include "core/error.hpp"
#include "hf_fixture.hpp"
#include "inference/generator.hpp"
#include "io/temp_dir.hpp"

namespace primus {
namespace {

using test::HfFixture;

class Generation : public ::testing::TestWithParam<std::string> {};

TEST_P(Generation, GreedyWithKvCacheMatchesTheReference) {
  test::TempDir tmp;
  HfFixture fx(GetParam());
  io::SafetensorsReader expected(fx.dir / "expected.safetensors");
  const auto prompt = expected.read_i32("prompt");
  const auto want_ids = expected.read_i32("greedy");
  const auto want_logits = expected.read_f32("greedy_logits");
  const std::int64_t V = 256;
  for (std::int64_t seq : {fx.config.seq_length, std::int64_t{4}}) {  // one prefill chunk; chunks of 4
    model::ModelConfig c = fx.config;
    c.seq_length = seq;
    model::GPTModel m(c, 1, model::RecomputePlan{});
    const auto dir = tmp / ("ckpt" + std::to_string(seq));
    checkpoint::hf::import_hf(fx.resolved.args, c, checkpoint::model_tensors(m), fx.hf_dir, dir, nlohmann::json::object());
    checkpoint::CheckpointReader reader(*checkpoint::resolve_checkpoint_dir(dir));
    checkpoint::read_model(reader, m);
    inference::Sampler greedy({}, c.vocab);
    inference::GenerationOptions o;
    o.max_new_tokens = static_cast<std::int64_t>(want_ids.size());
    o.keep_logits = true;
    const auto r = inference::generate(m, prompt, greedy, o);
    EXPECT_EQ(r.ids, want_ids) << GetParam() << " seq " << seq;
    ASSERT_EQ(r.logits.size(), want_ids.size());
    for (std::size_t s = 0; s < r.logits.size(); ++s)
      EXPECT_LE(test::rel_l2(r.logits[s].data(), want_logits.data() + s * V, V), 1e-5) << GetParam() << " step " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, Generation, ::testing::ValuesIn(test::hf_families()),
                         [](const auto& info) { return info.param; });

TEST(Sampling, SeedsReproduceAndTopKTopPRestrict) {
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f, -1.0f};
  auto draw = [&](inference::SamplingConfig cfg, int n) {
    inference::Sampler s(cfg, 5);
    std::vector<int> ids;
    for (int i = 0; i < n; ++i) ids.push_back(s.next(logits.data()));
    return ids;
  };
  inference::SamplingConfig cfg;
  cfg.greedy = false;
  cfg.seed = 7;
  EXPECT_EQ(draw(cfg, 200), draw(cfg, 200));
  cfg.seed = 8;
  const auto other = draw(cfg, 200);
  cfg.seed = 7;
  EXPECT_NE(draw(cfg, 200), other);
  // Frequencies follow softmax(logits / T) within 4 standard deviations (fixed seed: deterministic).
  cfg.temperature = 2.0;
  const int n = 20000;
  std::map<int, int> count;
  for (int id : draw(cfg, n)) ++count[id];
  double z = 0.0;
  for (float l : logits) z += std::exp(l / 2.0);
  for (int i = 0; i < 5; ++i) {
    const double p = std::exp(logits[static_cast<size_t>(i)] / 2.0) / z;
    EXPECT_NEAR(count[i] / double(n), p, 4.0 * std::sqrt(p * (1 - p) / n)) << i;
  }
  // top_k 2: only the two best, renormalised.
  cfg.temperature = 1.0;
  cfg.top_k = 2;
  count.clear();
  for (int id : draw(cfg, n)) ++count[id];
  EXPECT_EQ(count.size(), 2u);
  const double p0 = 1.0 / (1.0 + std::exp(-1.0));
  EXPECT_NEAR(count[0] / double(n), p0, 4.0 * std::sqrt(p0 * (1 - p0) / n));
  // top_p 0.6: softmax(3, 2, 1, 0, -1) gives 0.636 to the best token: it alone is the nucleus.
  cfg.top_k = 0;
  cfg.top_p = 0.6;
  for (int id : draw(cfg, 500)) EXPECT_EQ(id, 0);
  cfg.top_p = 0.9;  // 0.636 + 0.234 < 0.9: three tokens
  count.clear();
  for (int id : draw(cfg, 5000)) ++count[id];
  EXPECT_EQ(count.size(), 3u);
  // Greedy: ties go to the lower id.
  const std::vector<float> tie = {1.0f, 5.0f, 5.0f};
  inference::Sampler g({}, 3);
  EXPECT_EQ(g.next(tie.data()), 1);
  // Bad options are named.
  cfg = {};
  cfg.greedy = false;
  cfg.top_p = 0.0;
  EXPECT_THROW(inference::Sampler(cfg, 5), Error);
  cfg.top_p = 1.0;
  cfg.temperature = 0.0;
  EXPECT_THROW(inference::Sampler(cfg, 5), Error);
}

}  // namespace
}  // namespace primus
