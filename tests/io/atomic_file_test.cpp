// The project's one atomic-write helper: a file appears whole at commit() or not at all, every
// writer has its own temporary name, and a failed or interrupted writer leaves nothing behind.
#include "io/atomic_file.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <set>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "temp_dir.hpp"

namespace primus::io {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(IoAtomicFile, AppearsOnlyAtCommit) {
  TempDir dir;
  const auto target = dir / "data.bin";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    f.write("new ");
    f.write(std::string(3 << 20, 'z'));  // past the buffer
    EXPECT_EQ(read(target), "old");      // readers still see the previous file
    EXPECT_EQ(names_in(dir.path()).size(), 2u);
    f.commit();
  }
  EXPECT_EQ(read(target).size(), 4u + (3u << 20));
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"data.bin"});
  EXPECT_EQ(fs::status(target).permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST(IoAtomicFile, WithoutCommitNothingIsLeft) {
  TempDir dir;
  const auto target = dir / "data.bin";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    f.write("half of a dataset");
  }
  EXPECT_EQ(read(target), "old");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"data.bin"});
  try {
    AtomicFile f(dir / "other.bin");
    f.write("x");
    throw Error("a failure mid-write");
  } catch (const Error&) {
  }
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"data.bin"});
}

TEST(IoAtomicFile, EveryWriterHasItsOwnTemporaryName) {
  TempDir dir;
  AtomicFile a(dir / "cache.npy"), b(dir / "cache.npy");
  EXPECT_NE(a.temporary_path(), b.temporary_path());
  EXPECT_EQ(a.temporary_path().parent_path(), dir.path());  // same folder: the rename is atomic
  a.write("A");
  b.write("B");
  a.commit();
  b.commit();
  EXPECT_EQ(read(dir / "cache.npy"), "B");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"cache.npy"});
}

struct BadTarget {
  const char* name;
  std::string relative;  // under the test folder
  std::string expected;  // message after the path; {dir} stands for the test folder
};

class IoAtomicFileBadTarget : public ::testing::TestWithParam<BadTarget> {};

TEST_P(IoAtomicFileBadTarget, FailsNamingThePath) {
  TempDir dir;
  fs::create_directories(dir / "folder");
  const fs::path target = dir / GetParam().relative;
  std::string message;
  try {
    write_file_atomically(target, "x");
  } catch (const Error& e) {
    message = e.what();
  }
  std::string expected = GetParam().expected;
  if (auto at = expected.find("{dir}"); at != std::string::npos) expected.replace(at, 5, dir.path().string());
  EXPECT_EQ(message, target.string() + ": " + expected);
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"folder"});
}

const BadTarget kBadTargets[] = {
    {"missing_folder", "nowhere/x.yaml", "cannot write: the folder {dir}/nowhere does not exist"},
    {"target_is_a_folder", "folder", "is a folder; give a file name"},
};

INSTANTIATE_TEST_SUITE_P(Targets, IoAtomicFileBadTarget, ::testing::ValuesIn(kBadTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// Ctrl-C or kill during a long write: with the cleanup installed (as `primus` does), the
// temporary file goes too, and the process still ends by the signal.
TEST(IoAtomicFile, SignalRemovesTemporaryFiles) {
  TempDir dir;
  for (int sig : {SIGINT, SIGTERM}) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::signal(sig, SIG_DFL);
      install_temporary_file_cleanup();
      AtomicFile f(dir / "dataset.bin");
      f.write(std::string(2 << 20, 'x'));
      ::raise(sig);
      ::_exit(0);  // not reached
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig);
    EXPECT_TRUE(fs::is_empty(dir.path())) << "signal " << sig;
  }
}

}  // namespace
}  // namespace primus::io
