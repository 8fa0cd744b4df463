// Inputs a user names, checked before use: each kind of wrong path gets its one line; and user
// text inside messages is escaped and cut (core/message_text).
#include "core/input_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/message_text.hpp"
#include "core/output_folder.hpp"

namespace primus {
namespace {

namespace fs = std::filesystem;

class Dir {
 public:
  Dir() : path_(fs::temp_directory_path() / ("primus_core_input_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~Dir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& n) const { return path_ / n; }

 private:
  fs::path path_;
};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct PathCase {
  const char* name;
  std::function<fs::path(const Dir&)> make;  // creates what the path names
  std::string expected;                       // after "<path>: "
};

void PrintTo(const PathCase& c, std::ostream* os) { *os << c.name; }

class CoreInputFile : public ::testing::TestWithParam<PathCase> {};

TEST_P(CoreInputFile, NamesThePathAndWhatIsWrong) {
  const PathCase& c = GetParam();
  Dir dir;
  const fs::path p = c.make(dir);
  const std::string message = error_of([&] { read_input_file(p, "experiment file", 1024); });
  EXPECT_EQ(message, p.string() + ": " + c.expected);
}

const PathCase kPathCases[] = {
    {"missing", [](const Dir& d) { return d / "nope.yaml"; }, "experiment file not found"},
    {"missing_parent", [](const Dir& d) { return d / "no/such/dir/e.yaml"; }, "experiment file not found"},
    {"folder", [](const Dir& d) { fs::create_directories(d / "sub"); return d / "sub"; },
     "is a folder; the experiment file must be a file"},
    {"device", [](const Dir&) { return fs::path("/dev/zero"); }, "is a device; the experiment file must be a regular file"},
    {"pipe", [](const Dir& d) { ::mkfifo((d / "fifo").c_str(), 0600); return d / "fifo"; },
     "is a pipe; the experiment file must be a regular file"},
    {"symlink_loop",
     [](const Dir& d) {
       fs::create_symlink("b", d / "a");
       fs::create_symlink("a", d / "b");
       return d / "a";
     },
     "loop of symbolic links; cannot reach the experiment file"},
    {"dangling_symlink", [](const Dir& d) { fs::create_symlink("gone", d / "link"); return d / "link"; },
     "experiment file not found"},
    {"too_large",
     [](const Dir& d) {
       std::ofstream(d / "big.yaml") << std::string(4096, 'x');
       return d / "big.yaml";
     },
     "is 4.0 KiB, over the 1.0 KiB limit for the experiment file (is this the right file?)"},
};

INSTANTIATE_TEST_SUITE_P(Paths, CoreInputFile, ::testing::ValuesIn(kPathCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CoreInputFile, ReadsAFileWithinTheLimitAndPipesWhenAllowed) {
  Dir dir;
  std::ofstream(dir / "ok.yaml") << "a: 1\n";
  EXPECT_EQ(read_input_file(dir / "ok.yaml", "experiment file", 1024), "a: 1\n");
  ::mkfifo((dir / "fifo").c_str(), 0600);
  EXPECT_NO_THROW(check_input_file(dir / "fifo", "input file", InputKind::kFileOrPipe));
  if (::geteuid() != 0) {  // root reads anything
    std::ofstream(dir / "secret") << "x";
    fs::permissions(dir / "secret", fs::perms::none);
    EXPECT_EQ(error_of([&] { check_input_file(dir / "secret", "experiment file"); }),
              (dir / "secret").string() + ": cannot read the experiment file: permission denied");
  }
}

TEST(CoreOutputFolder, CreatesOrNamesWhatIsInTheWay) {
  Dir dir;
  EXPECT_NO_THROW(prepare_output_folder(dir / "a/b/c", "output folder"));
  EXPECT_TRUE(fs::is_directory(dir / "a/b/c"));
  std::ofstream(dir / "file") << "x";
  EXPECT_EQ(error_of([&] { prepare_output_folder(dir / "file", "output folder"); }),
            (dir / "file").string() + ": the output folder is a file, not a folder");
  EXPECT_EQ(error_of([&] { prepare_output_folder(dir / "file/sub", "output folder"); }),
            (dir / "file/sub").string() + ": cannot create the output folder: " + (dir / "file").string() + " is a file");
  fs::create_symlink("l2", dir / "l1");
  fs::create_symlink("l1", dir / "l2");
  EXPECT_EQ(error_of([&] { prepare_output_folder(dir / "l1", "output folder"); }),
            (dir / "l1").string() + ": loop of symbolic links; cannot create the output folder");
}

struct TextCase {
  const char* name;
  std::string in;
  std::size_t limit;
  std::string out;
};

class CoreMessageText : public ::testing::TestWithParam<TextCase> {};

TEST_P(CoreMessageText, IsOneEscapedBoundedLine) {
  const TextCase& c = GetParam();
  EXPECT_EQ(printable(c.in, c.limit), c.out);
}

const TextCase kTextCases[] = {
    {"plain", "hidden_size", 200, "hidden_size"},
    {"utf8_kept", "λ × 2 → ok", 200, "λ × 2 → ok"},
    {"newline_and_tab", "a\nb\tc\r", 200, "a\\nb\\tc\\r"},
    {"control_and_invalid_bytes", std::string("a\x01\xff\xc3(", 5), 200, "a\\x01\\xFF\\xC3("},
    {"overlong_encoding", "\xc0\xaf", 200, "\\xC0\\xAF"},
    {"surrogate", "\xed\xa0\x80", 200, "\\xED\\xA0\\x80"},
    {"cut_long", std::string(1000, 'v'), 10, "vvvvvvvvvv… (1000 bytes)"},
    {"cut_not_inside_a_character", "ααααα", 5, "αα… (10 bytes)"},
};

INSTANTIATE_TEST_SUITE_P(Texts, CoreMessageText, ::testing::ValuesIn(kTextCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CoreMessageText, OverlongMessagesKeepBothEnds) {
  const std::string message = "start " + std::string(10 << 20, 'x') + " end: what to do";
  const std::string line = one_line_message(message);
  EXPECT_LT(line.size(), 4000u);
  EXPECT_TRUE(line.starts_with("start "));
  EXPECT_TRUE(line.ends_with(" end: what to do"));
  EXPECT_NE(line.find("bytes cut"), std::string::npos);
}

}  // namespace
}  // namespace primus
