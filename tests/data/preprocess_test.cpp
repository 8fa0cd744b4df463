// `primus data preprocess` end to end (the built binary): Megatron's output names, documents and
// EOD, gzip input, thread-count independence, malformed lines reported with their line number or
// skipped with a count, and (with assets) the Mixtral tokenizer's ids.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "data/indexed_dataset_reader.hpp"
#include "data/preprocess.hpp"
#include "data/tokenizer/null_tokenizer.hpp"
#include "data/tokenizer/hf_tokenizer.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

int preprocess(const std::string& args, const std::string& log) {
  return testing::run(std::string(PRIMUS_BINARY) + " data preprocess " + args + " > " + log + " 2>&1");
}

TEST(PreprocessLibrary, InProcessWithThreadsAndBadLines) {
  ScratchDir dir("pp_lib");
  std::string jsonl;
  for (int i = 0; i < 700; ++i) {
    jsonl += i == 333 ? std::string("{\"text\": oops}\n") : "{\"text\": \"" + std::to_string(i) + " 1\"}\n";
  }
  write_file(dir / "in.jsonl", jsonl);
  NullTokenizer tok(1000);
  PreprocessOptions opt;
  opt.input = dir / "in.jsonl";
  opt.output_prefix = dir / "p";
  opt.append_eod = true;
  opt.workers = 3;
  try {
    preprocess_jsonl(tok, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in.jsonl:334:"), std::string::npos) << e.what();
  }
  opt.skip_bad_lines = true;
  int calls = 0;
  const auto stats = preprocess_jsonl(tok, opt, [&](const PreprocessStats&) { ++calls; });
  EXPECT_EQ(stats.documents, 699);
  EXPECT_EQ(stats.skipped_lines, 1);
  EXPECT_EQ(stats.tokens, 699 * 3);
  IndexedDatasetReader r(dir / "p_text_document");
  EXPECT_EQ(r.sequence(500), (std::vector<std::int64_t>{501, 1, 1000}));
}

TEST(Preprocess, NullTokenizerDocumentsAndEod) {
  ScratchDir dir("pp_null");
  write_file(dir / "in.jsonl",
             "{\"text\": \"1 2 3\", \"other\": \"7\"}\n"
             "\n"
             "{\"text\": \"4 5\", \"other\": \"8 9\"}\r\n"
             "{\"text\": [\"10\", \"11 12\"], \"other\": \"1\"}");  // no final newline
  ASSERT_EQ(preprocess("--input " + (dir / "in.jsonl") + " --output-prefix " + (dir / "out") +
                           " --tokenizer-type NullTokenizer --vocab-size 100 --append-eod --json-keys text other"
                           " --workers 3",
                       dir / "log"),
            0)
      << read_file(dir / "log");
  EXPECT_NE(read_file(dir / "log").find("3 documents"), std::string::npos) << read_file(dir / "log");
  IndexedDatasetReader text(dir / "out_text_document");
  EXPECT_EQ(text.dtype(), TokenDType::kUInt16);
  ASSERT_EQ(text.document_count(), 3);
  EXPECT_EQ(text.sequence(0), (std::vector<std::int64_t>{1, 2, 3, 100}));
  EXPECT_EQ(text.sequence(1), (std::vector<std::int64_t>{4, 5, 100}));
  EXPECT_EQ(text.sequence(2), (std::vector<std::int64_t>{10, 11, 12, 100}));
  IndexedDatasetReader other(dir / "out_other_document");
  EXPECT_EQ(other.sequence(1), (std::vector<std::int64_t>{8, 9, 100}));
}

TEST(Preprocess, GzipInputAndWorkerCountGiveIdenticalFiles) {
  ScratchDir dir("pp_gz");
  std::string jsonl;
  for (int i = 0; i < 1000; ++i) jsonl += "{\"text\": \"" + std::to_string(i) + " " + std::to_string(i % 7) + "\"}\n";
  write_file(dir / "in.jsonl", jsonl);
  gzFile gz = gzopen((dir / "in.jsonl.gz").c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, jsonl.data(), static_cast<unsigned>(jsonl.size()));
  gzclose(gz);
  const std::string common = " --tokenizer-type NullTokenizer --vocab-size 70000";
  ASSERT_EQ(preprocess("--input " + (dir / "in.jsonl") + " --output-prefix " + (dir / "a") + common + " --workers 1", dir / "log"), 0);
  ASSERT_EQ(preprocess("--input " + (dir / "in.jsonl.gz") + " --output-prefix " + (dir / "b") + common + " --workers 4", dir / "log"), 0)
      << read_file(dir / "log");
  EXPECT_EQ(read_file(dir / "a_text_document.bin"), read_file(dir / "b_text_document.bin"));
  EXPECT_EQ(read_file(dir / "a_text_document.idx"), read_file(dir / "b_text_document.idx"));
  EXPECT_EQ(IndexedDatasetReader(dir / "a_text_document").dtype(), TokenDType::kInt32);  // vocab >= 65500
}

TEST(Preprocess, MalformedLinesHaveLineNumbersOrAreSkipped) {
  ScratchDir dir("pp_bad");
  write_file(dir / "in.jsonl", "{\"text\": \"1\"}\n{\"text\": \"2\"\n{\"txt\": \"3\"}\n{\"text\": \"4\"}\n");
  const std::string base = "--input " + (dir / "in.jsonl") + " --output-prefix " + (dir / "o") +
                           " --tokenizer-type NullTokenizer --vocab-size 10";
  EXPECT_NE(preprocess(base, dir / "log"), 0);
  const std::string log = read_file(dir / "log");
  EXPECT_NE(log.find("in.jsonl:2: malformed JSON"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  ASSERT_EQ(preprocess(base + " --skip-bad-lines", dir / "log"), 0) << read_file(dir / "log");
  EXPECT_NE(read_file(dir / "log").find("2 bad lines skipped"), std::string::npos) << read_file(dir / "log");
  EXPECT_EQ(IndexedDatasetReader(dir / "o_text_document").document_count(), 2);
  EXPECT_NE(preprocess("--input " + (dir / "missing.jsonl") + " --output-prefix " + (dir / "o") +
                           " --tokenizer-type NullTokenizer --vocab-size 10",
                       dir / "log"),
            0);
  EXPECT_NE(read_file(dir / "log").find("missing.jsonl"), std::string::npos);
}

TEST(Preprocess, MixtralTokenizerAddsBosLikeMegatron) {
  const std::string hf_home = std::string(PRIMUS_SOURCE_DIR) + "/assets/hf_home";
  const fs::path snaps = fs::path(hf_home) / "hub/models--mistralai--Mixtral-8x7B-v0.1/snapshots";
  if (!fs::exists(snaps)) GTEST_SKIP() << "assets absent: run scripts/fetch_assets.sh";
  ScratchDir dir("pp_mixtral");
  write_file(dir / "in.jsonl", "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n");
  ASSERT_EQ(preprocess("--input " + (dir / "in.jsonl") + " --output-prefix " + (dir / "m") +
                           " --tokenizer-type MixtralTokenizer --tokenizer-model mistralai/Mixtral-8x7B-v0.1 --append-eod",
                       dir / "log"),
            0)
      << read_file(dir / "log");
  IndexedDatasetReader r(dir / "m_text_document");
  ASSERT_EQ(r.document_count(), 3);
  // As with Megatron + transformers, an empty text still gets BOS (then EOD).
  EXPECT_EQ(r.sequence(1), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(r.sequence(0), (std::vector<std::int64_t>{1, 22557, 1526, 2}));
  HfTokenizer tok((fs::directory_iterator(snaps)->path() / "tokenizer.json").string());
  auto ids = tok.encode("caf\xc3\xa9 \xf0\x9f\x98\x80", true);
  ids.push_back(2);
  const auto got = r.sequence(2);
  EXPECT_EQ(std::vector<std::int32_t>(got.begin(), got.end()), ids);
}

}  // namespace
}  // namespace primus::data
