// Tokenizers: ids equal the JS reference @lenml/tokenizers on a varied text set
// (tests/fixtures/data/tokenizer_texts.json) for the Mixtral (SentencePiece BPE + byte fallback),
// Llama 3.1 and DeepSeek V3 (byte-level BPE) tokenizer.json files that scripts/fetch_assets.sh
// places under assets/hf_home. Those tests skip, saying so, when the assets are absent.
// Also: model resolution errors, NullTokenizer, tokenizer_type mapping.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "data/tokenizer/hf_tokenizer.hpp"
#include "data/tokenizer/null_tokenizer.hpp"
#include "data/tokenizer/tokenizer_factory.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

namespace fs = std::filesystem;

std::string hf_home() { return std::string(PRIMUS_SOURCE_DIR) + "/assets/hf_home"; }

std::string snapshot_of(const std::string& id) {
  const fs::path snaps = fs::path(hf_home()) / "hub" / ("models--" + id.substr(0, id.find('/')) + "--" + id.substr(id.find('/') + 1)) / "snapshots";
  std::error_code ec;
  if (!fs::is_directory(snaps, ec)) return {};
  for (const auto& e : fs::directory_iterator(snaps)) {
    if (fs::exists(e.path() / "tokenizer.json")) return e.path().string();
  }
  return {};
}

bool have_js_reference() {
  return fs::exists(std::string(PRIMUS_SOURCE_DIR) + "/assets/js/node_modules/@lenml/tokenizers/package.json") &&
         std::system("node --version > /dev/null 2>&1") == 0;
}

class JsReference : public ::testing::TestWithParam<const char*> {};

TEST_P(JsReference, IdsAndDecodingMatch) {
  const std::string id = GetParam();
  const std::string snap = snapshot_of(id);
  if (snap.empty() || !have_js_reference()) {
    GTEST_SKIP() << "assets absent (" << id << " tokenizer or the JS reference): run scripts/fetch_assets.sh";
  }
  testing::ScratchDir dir("tok_js");
  const std::string texts = testing::fixture("tokenizer_texts.json");
  const std::string cmd = "node " + std::string(PRIMUS_SOURCE_DIR) + "/tools/reference/data/tokenize_js.mjs '" +
                          snap + "' '" + texts + "' '" + (dir / "ref.json") + "'";
  ASSERT_EQ(testing::run(cmd), 0) << cmd;
  const auto ref = nlohmann::json::parse(testing::read_file(dir / "ref.json"));
  const auto list = nlohmann::json::parse(testing::read_file(texts));
  HfTokenizer tok(snap + "/tokenizer.json");
  int mismatches = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string text = list[i].get<std::string>();
    const auto ours = tok.encode(text, false);
    const auto expected = ref["plain"][i].get<std::vector<std::int32_t>>();
    EXPECT_EQ(ours, expected) << id << " text #" << i << ": '" << text << "'";
    mismatches += ours != expected;
    EXPECT_EQ(tok.encode(text, true), ref["special"][i].get<std::vector<std::int32_t>>()) << id << " (special) #" << i;
    EXPECT_EQ(tok.decode(expected), ref["decoded"][i].get<std::string>()) << id << " decode #" << i;
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, JsReference,
                         ::testing::Values("mistralai/Mixtral-8x7B-v0.1", "meta-llama/Llama-3.1-8B",
                                           "deepseek-ai/DeepSeek-V3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('/')) == "mistralai" ? std::string("Mixtral")
                                  : n.substr(0, n.find('/')) == "meta-llama" ? std::string("Llama3")
                                                                              : std::string("DeepSeekV3");
                         });

TEST(TokenizerFactory, ResolvesHfIdsThroughHfHome) {
  if (snapshot_of("mistralai/Mixtral-8x7B-v0.1").empty()) GTEST_SKIP() << "assets absent: run scripts/fetch_assets.sh";
  ::setenv("HF_HOME", hf_home().c_str(), 1);
  auto t = make_tokenizer("MixtralTokenizer", "mistralai/Mixtral-8x7B-v0.1");
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->eod(), 2);
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->encode("Hello"), (std::vector<std::int32_t>{22557}));
  auto l3 = make_tokenizer("Llama3Tokenizer", "meta-llama/Llama-3.1-8B");
  EXPECT_EQ(l3->vocab_size(), 128256);
  EXPECT_EQ(l3->eod(), 128001);
  // A folder and a file work too.
  const std::string snap = snapshot_of("deepseek-ai/DeepSeek-V3");
  EXPECT_EQ(make_tokenizer("DeepSeekV3Tokenizer", snap)->eod(), 1);
  EXPECT_EQ(make_tokenizer("HuggingFaceTokenizer", snap + "/tokenizer.json")->bos(), 0);
  ::unsetenv("HF_HOME");
}

TEST(TokenizerFactory, MissingModelSaysWhereItLooked) {
  testing::ScratchDir dir("tok_missing");
  ::setenv("HF_HOME", dir.str().c_str(), 1);
  try {
    make_tokenizer("Llama3Tokenizer", "meta-llama/Nope-1B");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("models--meta-llama--Nope-1B"), std::string::npos) << msg;
    EXPECT_NE(msg.find(dir.str()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  EXPECT_THROW(make_tokenizer("Llama3Tokenizer", "./no/such/file.json"), Error);
  EXPECT_THROW(make_tokenizer("GPT2BPETokenizer", "x"), Error);
  ::unsetenv("HF_HOME");
}

TEST(TokenizerFactory, NullTokenizerAndIdentity) {
  auto t = make_tokenizer("NullTokenizer", "", 100);
  EXPECT_EQ(t->vocab_size(), 101);
  EXPECT_EQ(t->eod(), 100);
  EXPECT_EQ(t->encode("1 2 3"), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(t->decode(std::vector<std::int32_t>{4, 5}), "4 5");
  EXPECT_THROW(t->encode("1 x"), Error);
  EXPECT_THROW(make_tokenizer("NullTokenizer", ""), Error);
  EXPECT_EQ(tokenizer_identity("NullTokenizer", "", 100).dump(),
            R"({"class":"_NullTokenizer","tokenizer_path":[null],"vocab_size":"100"})");
  EXPECT_EQ(tokenizer_identity("Llama3Tokenizer", "meta-llama/Llama-3.1-8B").dump(),
            R"({"class":"_HuggingFaceTokenizer","tokenizer_path":["meta-llama/Llama-3.1-8B"]})");
}

TEST(HfTokenizer, SmallHandWrittenByteLevelFile) {
  // A 2-merge byte-level tokenizer written here, to test the pipeline without assets.
  testing::ScratchDir dir("tok_small");
  nlohmann::json j;
  j["added_tokens"] = {{{"id", 9}, {"content", "<eos>"}, {"special", true}, {"normalized", false}}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"\xc4\xa0", 2}, {"ab", 3}, {"\xc4\xa0" "ab", 4}, {"c", 5}}},
                {"merges", {"a b", "\xc4\xa0 ab"}}};
  testing::write_file(dir / "tokenizer.json", j.dump());
  testing::write_file(dir / "tokenizer_config.json", R"({"eos_token": "<eos>"})");
  HfTokenizer t(dir / "tokenizer.json");
  EXPECT_EQ(t.encode("ab ab c<eos>"), (std::vector<std::int32_t>{3, 4, 2, 5, 9}));
  EXPECT_EQ(t.decode(std::vector<std::int32_t>{3, 4, 2, 5, 9}), "ab ab c<eos>");
  EXPECT_EQ(t.decode(std::vector<std::int32_t>{3, 9}, true), "ab");
  EXPECT_EQ(t.eod(), 9);
  EXPECT_EQ(t.vocab_size(), 10);
  try {
    t.encode("xyz");
    FAIL() << "expected an error for characters outside the vocabulary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos);
  }
  EXPECT_THROW(t.encode(std::string("\xff\xfe")), Error);
}

TEST(HfTokenizer, TokenIdsMustBeIntegersInRange) {
  // Each id of tokenizer.json: the vocabulary, added tokens, the post-processor's ids.
  testing::ScratchDir dir("tok_ids");
  auto file = [](nlohmann::json vocab_id, nlohmann::json added_id, nlohmann::json post_id) {
    nlohmann::json j;
    j["added_tokens"] = {{{"id", added_id}, {"content", "<s>"}, {"special", true}}};
    j["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", vocab_id}}}, {"merges", nlohmann::json::array()}};
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {{{"SpecialToken", {{"id", "<s>"}}}}}},
                           {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {post_id}}}}}}};
    return j.dump();
  };
  struct Case {
    std::string json, message;
  };
  for (const Case& c : {Case{file(1.4e111, 2, 2), "token id of 'b' must be an integer, got 1.4e+111"},
                        Case{file(-1, 2, 2), "token id -1 of 'b' is outside [0, 16777216)"},
                        Case{file(1, 2.5, 2), "token id of added token must be an integer, got 2.5"},
                        Case{file(1, std::uint64_t{1} << 40, 2), "token id 1099511627776 of added token is outside"},
                        Case{file(1, 2, "2"), "token id of post_processor special token <s> must be an integer"}}) {
    testing::write_file(dir / "tokenizer.json", c.json);
    try {
      HfTokenizer t(dir / "tokenizer.json");
      ADD_FAILURE() << "accepted: " << c.json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace primus::data
