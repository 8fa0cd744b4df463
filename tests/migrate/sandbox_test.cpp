// The migration sandbox against hostile and careless launch scripts: whatever a script does —
// signal or kill its parent, leave its process group with setsid, double-fork a daemon, flood its
// output, never end — migration ends with one clear line (or the capture), nothing the script
// started is left running, and the sandbox folder is gone. SIGINT/SIGTERM sent to primus and
// primus being SIGKILLed are covered through the binary.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "migrate/script_runner.hpp"
#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using testing::TestDir;
using testing::error_of;

constexpr const char* kLaunch = "torchrun --nproc_per_node 1 pretrain_gpt.py --num-layers 2 --hidden-size 64\n";

bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const auto close = text.rfind(')');
  return close == std::string::npos || text.substr(close + 2, 1) != "Z";
}

// The pids the script wrote into `dir` (one file each); waits up to `seconds` for them to die.
std::vector<pid_t> survivors(const std::filesystem::path& dir, double seconds = 3) {
  std::vector<pid_t> pids;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path());
    long pid = 0;
    if (in >> pid && pid > 1) pids.push_back(static_cast<pid_t>(pid));
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<pid_t> left;
  do {
    left.clear();
    for (pid_t p : pids)
      if (alive(p)) left.push_back(p);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  for (pid_t p : left) ::kill(p, SIGKILL);  // never leave them behind, even when the test fails
  return left;
}

struct SandboxCase {
  const char* name;
  std::string body;             // the script after "#!/bin/bash"; $PIDS is a folder for pid files
  double timeout_s;
  std::vector<std::string> expected;  // substrings of the error; empty: the launch is captured
  int pid_files;                // how many pid files the script writes before it is stopped
};

void PrintTo(const SandboxCase& c, std::ostream* os) { *os << c.name; }

class MigrateSandbox : public ::testing::TestWithParam<SandboxCase> {};

TEST_P(MigrateSandbox, EndsCleanlyAndLeavesNothingRunning) {
  const SandboxCase& c = GetParam();
  TestDir dir;
  const auto pids = dir.path() / "pids";
  const auto tmp = dir.path() / "tmp";
  std::filesystem::create_directories(pids);
  std::filesystem::create_directories(tmp);
  ::setenv("TMPDIR", tmp.c_str(), 1);  // the sandbox folder is made here: it must be gone after
  const auto script = dir.path() / (std::string(c.name) + ".sh");
  std::ofstream(script) << "#!/bin/bash\n" << c.body;

  CaptureOptions o;
  o.script = script;
  o.script_args = {"PIDS=" + pids.string(), "PRIMUS_UNDER_TEST=" + std::to_string(::getpid())};
  o.timeout_s = c.timeout_s;
  const auto start = std::chrono::steady_clock::now();
  std::string message = error_of([&] { capture_launch(o); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (c.expected.empty()) {
    EXPECT_EQ(message, "") << c.name;
  } else {
    ASSERT_NE(message, "") << c.name << ": no error";
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
  }
  EXPECT_LT(seconds, c.timeout_s + 8) << "the run was not stopped in time";
  EXPECT_EQ(static_cast<int>(std::distance(std::filesystem::directory_iterator(pids), {})), c.pid_files)
      << "the script did not get as far as the test expects";
  EXPECT_EQ(survivors(pids), std::vector<pid_t>{}) << "processes the script started are still running";
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << "the sandbox folder was left behind";
}

// (`sleep` is one of the sandbox's stand-ins, which return at once: loops keep these processes up.)
const std::string kDaemon = "( ( echo $BASHPID > $PIDS/daemon; while :; do /bin/sleep 1; done ) & )\n";
const std::string kSetsidLoop = "setsid bash -c 'echo $$ > $PIDS/setsid; while :; do :; done' &\n";
const std::string kWaitForPidFiles = "for f in daemon setsid; do while [ ! -s $PIDS/$f ]; do sleep 0.01; done; done\n";

const SandboxCase kCases[] = {
    {"sigkill_to_its_parent", "kill -9 $PPID\n/bin/sleep 30\n" + std::string(kLaunch), 30,
     {"sigkill_to_its_parent.sh: the script killed the process running it (signal 9)", "must not signal its parent"}, 0},
    {"sigterm_and_sigint_to_its_parent_are_ignored", "kill $PPID; kill -INT $PPID; kill -HUP $PPID\n" + std::string(kLaunch),
     30, {}, 0},
    {"kill_0_ends_the_script_only", "kill 0\n" + std::string(kLaunch), 30,
     {"kill_0_ends_the_script_only.sh: the script was ended by SIGTERM (exit code 143) before reaching a launcher"}, 0},
    {"sigterm_to_primus", "kill -TERM $PRIMUS_UNDER_TEST\n/bin/sleep 30\n" + std::string(kLaunch), 30,
     {"sigterm_to_primus.sh: the script sent SIGTERM to primus", "stopped with everything it started"}, 0},
    {"setsid_and_daemon_children_are_stopped", kDaemon + kSetsidLoop + kWaitForPidFiles + kLaunch, 30, {}, 2},
    {"timeout_stops_escaped_children",
     kDaemon + kSetsidLoop + kWaitForPidFiles + "while :; do sleep 0.05; done\n", 1,
     {"timeout_stops_escaped_children.sh: did not reach a launcher within 1 s"}, 2},
    {"output_flood", kSetsidLoop + "while [ ! -s $PIDS/setsid ]; do sleep 0.01; done\nyes\n", 30,
     {"output_flood.sh: the script wrote more than 16.0 MiB of output and was stopped", "last output: y | y"}, 1},
    {"flood_on_stderr_from_a_background_job", "(yes >&2 &)\nwhile :; do :; done\n", 30, {"wrote more than 16.0 MiB"}, 0},
};

INSTANTIATE_TEST_SUITE_P(Scripts, MigrateSandbox, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MigrateSandbox, TimeLimitMustBeFinitePositive) {
  TestDir dir;
  const auto script = dir.path() / "s.sh";
  std::ofstream(script) << "#!/bin/bash\n" << kLaunch;
  for (double bad : {std::nan(""), double(INFINITY), 0.0, -1.0}) {
    ScriptRunRequest r;
    r.script = script;
    r.working_dir = dir.path();
    r.output_log = dir.path() / "log";
    r.timeout_s = bad;
    EXPECT_NE(error_of([&] { run_script(r); }).find("the time limit must be a finite positive number of seconds"),
              std::string::npos)
        << bad;
  }
}

// SIGINT reaching this process while the script runs: everything stopped, the sandbox removed,
// and primus::Interrupted carries the signal for the exit status.
TEST(MigrateSandbox, SigintStopsTheScriptAndRemovesTheSandbox) {
  TestDir dir;
  const auto pids = dir.path() / "pids";
  const auto tmp = dir.path() / "tmp";
  std::filesystem::create_directories(pids);
  std::filesystem::create_directories(tmp);
  ::setenv("TMPDIR", tmp.c_str(), 1);
  const auto script = dir.path() / "loop.sh";
  std::ofstream(script) << "#!/bin/bash\n" << kDaemon << kSetsidLoop << "while :; do sleep 0.05; done\n";
  CaptureOptions o;
  o.script = script;
  o.script_args = {"PIDS=" + pids.string()};
  o.timeout_s = 60;
  std::thread interrupter([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::distance(std::filesystem::directory_iterator(pids), {}) < 2 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::kill(::getpid(), SIGINT);
  });
  int signal = 0;
  std::string message;
  try {
    capture_launch(o);
  } catch (const Interrupted& e) {
    signal = e.signal();
    message = e.what();
  }
  interrupter.join();
  EXPECT_EQ(signal, SIGINT) << message;
  EXPECT_NE(message.find("loop.sh: migration stopped by SIGINT; the script and everything it started were stopped"),
            std::string::npos)
      << message;
  EXPECT_EQ(survivors(pids), std::vector<pid_t>{});
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
}

// The binary as a user runs it, stopped by SIGINT (Ctrl-C), SIGTERM (kill) or SIGKILL.
struct Spawned {
  pid_t pid;
  int output_fd;
};

Spawned spawn_primus(const std::vector<std::string>& args, const std::filesystem::path& tmp) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::signal(SIGINT, SIG_DFL);
    ::setenv("TMPDIR", tmp.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(PRIMUS_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(PRIMUS_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class MigrateSandboxSignals : public ::testing::TestWithParam<int> {};

TEST_P(MigrateSandboxSignals, PrimusStoppedBySignalStopsEverything) {
  const int sig = GetParam();
  TestDir dir;
  const auto pids = dir.path() / "pids";
  const auto tmp = dir.path() / "tmp";
  std::filesystem::create_directories(pids);
  std::filesystem::create_directories(tmp);
  const auto script = dir.path() / "loop.sh";
  std::ofstream(script) << "#!/bin/bash\n" << kDaemon << kSetsidLoop << "while :; do sleep 0.05; done\n";
  Spawned p = spawn_primus({"migrate", "megatron-lm", script.string(), "PIDS=" + pids.string(), "--output",
                            (dir.path() / "out").string(), "--timeout", "60"},
                           tmp);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::distance(std::filesystem::directory_iterator(pids), {}) < 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(p.pid, sig);
  int status = 0;
  ::waitpid(p.pid, &status, 0);
  const std::string output = read_all(p.output_fd);
  EXPECT_EQ(survivors(pids), std::vector<pid_t>{}) << output;
  if (sig == SIGKILL) {
    // Nothing runs in primus any more: the supervisor saw it go and stopped the script's processes.
    EXPECT_TRUE(WIFSIGNALED(status));
    std::filesystem::remove_all(tmp);  // the sandbox folder itself is the one thing left
    return;
  }
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 128 + sig) << output;
  const std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  EXPECT_NE(output.find("primus: stopped: " + script.string() + ": migration stopped by " + name +
                        "; the script and everything it started were stopped"),
            std::string::npos)
      << output;
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << "the sandbox folder was left behind";
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out" / "loop.yaml"));
}

INSTANTIATE_TEST_SUITE_P(Signals, MigrateSandboxSignals, ::testing::Values(SIGINT, SIGTERM, SIGKILL),
                         [](const auto& info) {
                           return std::string(info.param == SIGINT ? "SIGINT" : info.param == SIGTERM ? "SIGTERM" : "SIGKILL");
                         });

}  // namespace
}  // namespace primus::migrate
