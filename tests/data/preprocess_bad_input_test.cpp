// `primus data preprocess` given bad input: one line naming the input, option or line, a non-zero
// exit, and — whatever failed — no PREFIX_text_document.{bin,idx} (nor a temporary file) left in
// the output folder: a failed run never leaves something that looks like a dataset, and an
// earlier dataset of the same name stays as it was.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "data/indexed_dataset_reader.hpp"
#include "data_test_util.hpp"

namespace primus::data {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

struct BadRun {
  const char* name;
  std::string input;       // JSONL written to in.jsonl ("" : none written)
  std::string arguments;   // after the common ones; {dir} is the scratch folder
  std::string expected;    // substring of the message
};

void PrintTo(const BadRun& c, std::ostream* os) { *os << c.name; }

std::string replace_dir(std::string s, const std::string& dir) {
  for (auto at = s.find("{dir}"); at != std::string::npos; at = s.find("{dir}")) s.replace(at, 5, dir);
  return s;
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

class PreprocessBadInput : public ::testing::TestWithParam<BadRun> {};

TEST_P(PreprocessBadInput, OneLineNonZeroExitNoDataset) {
  const BadRun& c = GetParam();
  ScratchDir dir("pp_badrun");
  fs::create_directories(dir / "out");
  if (!c.input.empty()) write_file(dir / "in.jsonl", c.input);
  const std::string prefix =
      c.arguments.find("--output-prefix") == std::string::npos ? " --output-prefix " + (dir / "out/corpus") : "";
  const std::string command = std::string(PRIMUS_BINARY) + " data preprocess" + prefix + " " +
                              replace_dir(c.arguments, dir.str()) + " > " + (dir / "log") + " 2>&1";
  const int status = testing::run(command);
  const std::string log = read_file(dir / "log");
  EXPECT_NE(status, 0) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_NE(log.find("primus: error: " + replace_dir(c.expected, dir.str())), std::string::npos) << log;
  EXPECT_EQ(log.find("terminate"), std::string::npos) << log;
  EXPECT_EQ(names_in(dir / "out"), std::set<std::string>{}) << "a failed run left files behind";
}

const std::string kGood = "{\"text\": \"1 2 3\"}\n{\"text\": \"4 5\"}\n";
const std::string kNull = " --tokenizer-type NullTokenizer --vocab-size 10";

const BadRun kRuns[] = {
    {"bad_line_after_good_ones", kGood + kGood + "{\"text\": oops}\n", "--input {dir}/in.jsonl" + kNull,
     "{dir}/in.jsonl:5: malformed JSON"},
    {"text_the_tokenizer_refuses", kGood + "{\"text\": \"3 x\"}\n", "--input {dir}/in.jsonl" + kNull,
     "{dir}/in.jsonl:3: NullTokenizer: 'x' is not an integer token id"},
    {"too_many_workers", kGood, "--input {dir}/in.jsonl --workers 100000" + kNull, "--workers 100000 is too large (at most 1024)"},
    {"workers_not_a_number", kGood, "--input {dir}/in.jsonl --workers many" + kNull,
     "--workers must be a positive integer, got 'many'"},
    {"workers_zero", kGood, "--input {dir}/in.jsonl --workers 0" + kNull, "--workers must be a positive integer, got '0'"},
    {"input_is_a_folder", "", "--input {dir}/out" + kNull, "{dir}/out: is a folder; the input file must be a file"},
    {"input_is_a_device", "", "--input /dev/zero" + kNull, "/dev/zero: is a device; the input file must be a regular file"},
    {"input_missing", "", "--input {dir}/nope.jsonl" + kNull, "{dir}/nope.jsonl: input file not found"},
    {"output_folder_missing", kGood, "--input {dir}/in.jsonl --output-prefix {dir}/out/no/such/corpus" + kNull,
     "{dir}/out/no/such/corpus_text_document.bin: cannot write: the folder {dir}/out/no/such does not exist"},
    {"option_given_twice", kGood, "--input {dir}/in.jsonl --input {dir}/in.jsonl" + kNull, "--input is given more than once"},
    {"vocab_size_not_a_number", kGood, "--input {dir}/in.jsonl --tokenizer-type NullTokenizer --vocab-size lots",
     "--vocab-size must be a positive integer, got 'lots'"},
};

INSTANTIATE_TEST_SUITE_P(Runs, PreprocessBadInput, ::testing::ValuesIn(kRuns),
                         [](const auto& info) { return std::string(info.param.name); });

// A failed run over the name of an earlier dataset leaves that dataset as it was.
TEST(PreprocessBadInputEarlier, EarlierDatasetIsUntouched) {
  ScratchDir dir("pp_keep");
  write_file(dir / "in.jsonl", kGood);
  const std::string base = std::string(PRIMUS_BINARY) + " data preprocess --output-prefix " + (dir / "corpus") + kNull;
  ASSERT_EQ(testing::run(base + " --input " + (dir / "in.jsonl") + " > /dev/null 2>&1"), 0);
  const std::string bin = read_file(dir / "corpus_text_document.bin");
  write_file(dir / "bad.jsonl", kGood + kGood + kGood + "{\"text\": oops}\n");
  EXPECT_NE(testing::run(base + " --input " + (dir / "bad.jsonl") + " > /dev/null 2>&1"), 0);
  EXPECT_EQ(read_file(dir / "corpus_text_document.bin"), bin);
  EXPECT_EQ(IndexedDatasetReader(dir / "corpus_text_document").document_count(), 2);
  EXPECT_EQ(names_in(dir.str()), (std::set<std::string>{"bad.jsonl", "corpus_text_document.bin", "corpus_text_document.idx",
                                                         "in.jsonl"}));
}

// A file that is not JSONL (no newline for hundreds of MiB) stops at the line limit, not memory.
TEST(PreprocessBadInputEarlier, EndlessLineStopsAtTheLimit) {
  ScratchDir dir("pp_line");
  fs::create_directories(dir / "out");
  ::mkfifo((dir / "fifo").c_str(), 0600);
  const std::string command = "(head -c 300000000 /dev/zero | tr '\\0' 'x' > " + (dir / "fifo") + " &) ; " +
                              std::string(PRIMUS_BINARY) + " data preprocess --output-prefix " + (dir / "out/c") +
                              " --input " + (dir / "fifo") + kNull + " > " + (dir / "log") + " 2>&1";
  EXPECT_NE(testing::run(command), 0);
  const std::string log = read_file(dir / "log");
  EXPECT_NE(log.find("fifo:1: a line longer than 256.0 MiB (is this a JSONL file"), std::string::npos) << log;
  EXPECT_EQ(names_in(dir / "out"), std::set<std::string>{});
}

}  // namespace
}  // namespace primus::data
