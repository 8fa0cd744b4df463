// GPT dataset indices equal the numpy reference (tools/reference/data/gpt_indices.py) byte for
// byte — cache file names (md5 of the description), description text, document / sample /
// shuffle index .npy files — for several seeds, splits, sequence lengths and epoch counts,
// including multi-epoch runs whose last epoch is shuffled separately and runs where it is not.
// Also: cache reuse, sample contents, eod_mask_loss / reset_position_ids, blending, mock data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "data/blended_dataset.hpp"
#include "data/dataset_builder.hpp"
#include "data/gpt_dataset.hpp"
#include "data/indexed_dataset_reader.hpp"
#include "data/indexed_dataset_writer.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::read_file;
using testing::ScratchDir;

struct Case {
  std::string split;
  Split which;
  std::int64_t seq;
  std::int64_t num_samples;  // <0: -k means "k samples short of two epochs" (not separate)
  std::uint32_t seed;
};

std::int64_t split_tokens(const std::string& prefix, const std::string& split, Split which) {
  IndexedDatasetReader r(prefix);
  const auto m = split_matrix_from_vector(parse_and_normalize_split(split));
  const auto [b, e] = split_range(*m[static_cast<int>(which)], r.sequence_count());
  std::int64_t t = 0;
  for (auto i = b; i < e; ++i) t += r.sequence_lengths()[static_cast<std::size_t>(i)];
  return t;
}

GPTDatasetsSpec base_spec(const std::string& cache) {
  GPTDatasetsSpec spec;
  spec.config.tokenizer_identity = {{"class", "NullTokenizer"}};
  spec.config.path_to_cache = cache;
  spec.config.eod_id = 0;
  return spec;
}

TEST(GPTDataset, IndicesEqualNumpyReference) {
  if (!testing::have_numpy()) GTEST_SKIP() << "numpy not importable from /usr/bin/python3";
  const std::string prefix = fixture("corpus");
  const std::vector<Case> cases = {
      {"969,30,1", Split::kTrain, 128, 5000, 1234},  // 4 epochs, separate last epoch
      {"969,30,1", Split::kTrain, 64, 100, 7},       // one epoch
      {"90,10,0", Split::kValid, 32, 2000, 42},      // several epochs of a small split
      {"98,1,1", Split::kTest, 16, 50, 1234},        // tiny test split
      {"969,30,1", Split::kTrain, 256, -1, 3},       // 2 epochs, last epoch not separate
      {"70,20,10", Split::kTrain, 100, -300, 99},    // 2 epochs, borderline
      {"1", Split::kTrain, 2048, 700, 5},            // long sequences, many epochs
  };
  bool saw_separate = false, saw_joint = false;
  for (const auto& c : cases) {
    ScratchDir ours("gpt_ours"), ref("gpt_ref");
    const std::int64_t tokens = split_tokens(prefix, c.split, c.which);
    std::int64_t n = c.num_samples;
    if (n < 0) n = 2 * ((tokens - 1) / c.seq) + n;  // just under two epochs' worth
    auto spec = base_spec(ours.str());
    spec.blend = Blend{{prefix}, {}};
    spec.split = c.split;
    spec.config.sequence_length = c.seq;
    spec.config.random_seed = c.seed;
    spec.num_samples = {std::int64_t{1}, std::int64_t{1}, std::int64_t{1}};
    spec.num_samples[static_cast<std::size_t>(c.which)] = n;
    const auto datasets = build_gpt_datasets(spec);
    auto ds = std::dynamic_pointer_cast<GPTDataset>(datasets[static_cast<std::size_t>(c.which)]);
    ASSERT_TRUE(ds);
    EXPECT_GE(ds->size(), n);
    const std::string name(split_name(c.which));
    const std::string cmd = "/usr/bin/python3 " + std::string(PRIMUS_SOURCE_DIR) +
                            "/tools/reference/data/gpt_indices.py " + prefix + " " + ref.str() +
                            " --split '" + c.split + "' --which " + name + " --seq " +
                            std::to_string(c.seq) + " --num-samples " + std::to_string(n) +
                            " --seed " + std::to_string(c.seed) + " > " + (ref / "out.txt");
    ASSERT_EQ(testing::run(cmd), 0) << cmd;
    std::istringstream out(read_file(ref / "out.txt"));
    std::string md5;
    int epochs = 0, separate = 0;
    out >> md5 >> epochs >> separate;
    EXPECT_EQ(md5, ds->unique_description_hash());
    EXPECT_EQ(epochs, ds->num_epochs());
    (separate ? saw_separate : saw_joint) |= epochs > 1;
    for (const char* affix : {"description.txt", "document_index.npy", "sample_index.npy", "shuffle_index.npy"}) {
      const std::string file = md5 + "-GPTDataset-" + name + "-" + affix;
      ASSERT_TRUE(fs::exists(ours / file)) << file;
      EXPECT_TRUE(read_file(ours / file) == read_file(ref / file))
          << file << " differs (split " << c.split << ", seq " << c.seq << ", n " << n << ")";
    }
  }
  EXPECT_TRUE(saw_separate);
  EXPECT_TRUE(saw_joint);
}

TEST(GPTDataset, CacheIsReusedAndSamplesMatchTheTokenStream) {
  ScratchDir cache("gpt_cache");
  const std::string prefix = fixture("corpus");
  auto spec = base_spec(cache.str());
  spec.blend = Blend{{prefix}, {}};
  spec.split = "80,20";
  spec.config.sequence_length = 50;
  spec.num_samples = {std::int64_t{3000}, std::int64_t{100}, std::nullopt};
  auto first = build_gpt_datasets(spec);
  auto a = std::dynamic_pointer_cast<GPTDataset>(first[0]);
  ASSERT_TRUE(a && a->built_anew());
  EXPECT_EQ(first[2], nullptr);  // empty test split
  auto second = build_gpt_datasets(spec);
  auto b = std::dynamic_pointer_cast<GPTDataset>(second[0]);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->built_anew());
  ASSERT_EQ(a->size(), b->size());

  // Sample i is tokens [j*seq, (j+1)*seq] of the document-index stream, j = shuffle[i].
  IndexedDatasetReader r(prefix);
  std::vector<std::int64_t> stream;
  for (auto d : a->document_index()) {
    const auto t = r.sequence(d);
    stream.insert(stream.end(), t.begin(), t.end());
  }
  const std::int64_t seq = 50;
  std::vector<std::int32_t> tokens(seq), labels(seq), pos(seq);
  std::vector<float> mask(seq);
  SampleBuffers buf{tokens.data(), labels.data(), mask.data(), pos.data()};
  for (std::int64_t i : {std::int64_t{0}, std::int64_t{1}, std::int64_t{777}, b->size() - 1}) {
    b->get(i, buf);
    const std::int64_t j = a->shuffle_index()[static_cast<std::size_t>(i)];
    for (std::int64_t k = 0; k < seq; ++k) {
      ASSERT_EQ(tokens[k], stream[static_cast<std::size_t>(j * seq + k)]);
      ASSERT_EQ(labels[k], stream[static_cast<std::size_t>(j * seq + k + 1)]);
      ASSERT_EQ(pos[k], k);
      ASSERT_EQ(mask[k], 1.0f);
    }
  }
  EXPECT_THROW(b->get(b->size(), buf), Error);
}

TEST(GPTDataset, EodMaskAndPositionReset) {
  ScratchDir dir("gpt_eod");
  {
    IndexedDatasetWriter w(dir / "d", TokenDType::kUInt16);
    for (int d = 0; d < 50; ++d) {
      std::vector<std::int32_t> doc;
      for (int k = 0; k < 3 + d % 5; ++k) doc.push_back(10 + k);
      doc.push_back(2);  // EOD
      w.add_document(doc);
    }
    w.finalize();
  }
  auto spec = base_spec(dir / "cache");
  spec.blend = Blend{{dir / "d"}, {}};
  spec.split = "1,0,0";
  spec.config.sequence_length = 16;
  spec.config.eod_id = 2;
  spec.config.eod_mask_loss = true;
  spec.config.reset_position_ids = true;
  spec.num_samples = {std::int64_t{20}, std::nullopt, std::nullopt};
  auto ds = build_gpt_datasets(spec)[0];
  ASSERT_TRUE(ds);
  std::vector<std::int32_t> tokens(16), labels(16), pos(16);
  std::vector<float> mask(16);
  for (std::int64_t i = 0; i < ds->size(); ++i) {
    ds->get(i, {tokens.data(), labels.data(), mask.data(), pos.data()});
    std::int32_t expected_pos = 0;
    for (int k = 0; k < 16; ++k) {
      EXPECT_EQ(mask[k], tokens[k] == 2 ? 0.0f : 1.0f);
      EXPECT_EQ(pos[k], expected_pos);
      expected_pos = tokens[k] == 2 ? 0 : expected_pos + 1;
      if (k + 1 < 16) {
        EXPECT_EQ(labels[k], tokens[k + 1]);
      }
    }
  }
}

TEST(BlendedDataset, BlendingIndicesFollowWeights) {
  std::vector<std::int16_t> di;
  std::vector<std::int64_t> dsi;
  build_blending_indices({0.3, 0.7}, 1000, di, dsi);
  std::int64_t c0 = 0;
  for (auto d : di) c0 += d == 0;
  EXPECT_EQ(c0, 300);
  // First picks: k=0 → errors 0.3, 0.7 → dataset 1; k=1 → 0.3, -0.3 → dataset 0.
  EXPECT_EQ(di[0], 1);
  EXPECT_EQ(di[1], 0);
  EXPECT_EQ(dsi[0], 0);
  EXPECT_EQ(dsi[1], 0);
}

TEST(BlendedDataset, WeightedBlendBuildsCachesAndServesSamples) {
  ScratchDir dir("blend");
  const std::string a = fixture("corpus"), b = fixture("docs_uint16");
  auto spec = base_spec(dir / "cache");
  spec.blend = parse_blend({"0.3", a, "0.7", b});
  spec.split = "90,10,0";
  spec.config.sequence_length = 32;
  spec.num_samples = {std::int64_t{1000}, std::int64_t{50}, std::int64_t{0}};
  auto ds = build_gpt_datasets(spec);
  auto train = std::dynamic_pointer_cast<BlendedDataset>(ds[0]);
  ASSERT_TRUE(train);
  // Size = sum of ceil(S·w) per dataset; each mid-level dataset got ceil(ceil(S·w)·1.005) samples.
  EXPECT_EQ(train->size(), 300 + 700);
  EXPECT_EQ(*train->datasets()[0]->num_samples(), 302);
  EXPECT_EQ(*train->datasets()[1]->num_samples(), 704);
  std::set<std::string> files;
  for (auto& e : fs::directory_iterator(dir / "cache")) files.insert(e.path().filename().string());
  EXPECT_TRUE(files.count(train->unique_description_hash() + "-BlendedDataset-train-dataset_index.npy"));
  std::vector<std::int32_t> t(32), l(32), p(32);
  std::vector<float> m(32);
  for (std::int64_t i = 0; i < train->size(); i += 97) train->get(i, {t.data(), l.data(), m.data(), p.data()});
  EXPECT_THROW(parse_blend({"x", a, "0.7", b}), Error);
  EXPECT_THROW(parse_blend({"0.3", a, "0.7"}), Error);
}

TEST(GPTDataset, PerSplitPathsAndMockData) {
  ScratchDir dir("persplit");
  auto spec = base_spec(dir / "cache");
  spec.blend_per_split[0] = Blend{{fixture("corpus")}, {}};
  spec.blend_per_split[1] = Blend{{fixture("docs_int32")}, {}};
  spec.config.sequence_length = 20;
  spec.num_samples = {std::int64_t{100}, std::int64_t{10}, std::int64_t{0}};
  auto ds = build_gpt_datasets(spec);
  ASSERT_TRUE(ds[0] && ds[1]);
  EXPECT_EQ(ds[2], nullptr);
  auto train = std::dynamic_pointer_cast<GPTDataset>(ds[0]);
  EXPECT_NE(train->unique_description().find("\"split\": null"), std::string::npos);

  GPTDatasetsSpec mock;
  mock.mock = true;
  mock.vocab_size = 1000;
  mock.config.sequence_length = 64;
  mock.config.eod_id = 999;
  mock.num_samples = {std::int64_t{10}, std::int64_t{5}, std::int64_t{5}};
  auto m = build_gpt_datasets(mock);
  ASSERT_TRUE(m[0] && m[1] && m[2]);
  std::vector<std::int32_t> t(64), l(64), p(64);
  std::vector<float> mk(64);
  m[0]->get(3, {t.data(), l.data(), mk.data(), p.data()});
  for (auto v : t) EXPECT_TRUE(v >= 0 && v < 1000);
}

TEST(GPTDataset, EmptySplitsAreAbsentOrAClearError) {
  ScratchDir dir("gpt_empty");
  auto spec = base_spec(dir.str());
  spec.blend = Blend{{fixture("docs_int32")}, {}};
  spec.split = "9999,1,0";  // the valid split rounds to zero sequences of 200
  spec.config.sequence_length = 8;
  spec.num_samples = {std::int64_t{10}, std::int64_t{10}, std::nullopt};
  auto ds = build_gpt_datasets(spec);
  EXPECT_TRUE(ds[0]);
  EXPECT_EQ(ds[1], nullptr);
  spec.split = "1,9999,0";  // now the train split is empty
  try {
    build_gpt_datasets(spec);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train split"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::data

namespace primus::data {
namespace {

// The default corpus (scripts/fetch_assets.sh) through the whole path the trainer uses.
TEST(GPTDataset, DefaultBrownCorpus) {
  const std::string prefix = std::string(PRIMUS_SOURCE_DIR) + "/assets/data/brown_text_document";
  if (!fs::exists(prefix + ".idx")) GTEST_SKIP() << "assets absent: run scripts/fetch_assets.sh";
  ScratchDir cache("brown_cache");
  auto spec = base_spec(cache.str());
  spec.blend = Blend{{prefix}, {}};
  spec.split = "969,30,1";
  spec.config.sequence_length = 256;
  spec.config.eod_id = 2;
  spec.config.tokenizer_identity = {{"class", "_HuggingFaceTokenizer"}, {"tokenizer_path", {"mistralai/Mixtral-8x7B-v0.1"}}};
  spec.num_samples = {std::int64_t{4000}, std::int64_t{320}, std::int64_t{32}};
  auto ds = build_gpt_datasets(spec);
  ASSERT_TRUE(ds[0] && ds[1]);
  EXPECT_EQ(ds[2], nullptr);  // 500 documents: the 0.1% test split is empty
  std::vector<std::int32_t> t(256), l(256), p(256);
  std::vector<float> m(256);
  std::int64_t eods = 0;
  for (std::int64_t i = 0; i < ds[0]->size(); i += 101) {
    ds[0]->get(i, {t.data(), l.data(), m.data(), p.data()});
    for (int k = 0; k < 256; ++k) {
      ASSERT_TRUE(t[k] >= 0 && t[k] < 32000);
      eods += t[k] == 2;
    }
  }
  EXPECT_GT(eods, 0);
}

}  // namespace
}  // namespace primus::data
