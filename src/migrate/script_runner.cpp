#include "migrate/script_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/signal_guard.hpp"
#include "migrate/process_tree.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

// Signals the supervisor ignores (and the script gets back at their defaults).
constexpr int kShieldedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1,
                                    SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};

struct ChildSetup {
  pid_t parent;
  int output_fd;
  int input_fd;
  const char* cwd;
  char** argv;
  char** envp;
};

// Runs in the forked supervisor: only async-signal-safe calls from here on. It starts bash in a
// new session, waits for it, and exits with its status; it cannot be stopped but by SIGKILL.
[[noreturn]] void supervise(const ChildSetup& s) {
  ::setsid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != s.parent) ::_exit(125);  // primus died before prctl took effect
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : kShieldedSignals) ::sigaction(sig, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const pid_t supervisor = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) ::_exit(126);
  if (child == 0) {
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    sigemptyset(&defaults.sa_mask);
    for (int sig : kShieldedSignals) ::sigaction(sig, &defaults, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) ::_exit(125);
    if (::dup2(s.input_fd, 0) < 0 || ::dup2(s.output_fd, 1) < 0 || ::dup2(s.output_fd, 2) < 0) ::_exit(126);
    if (::chdir(s.cwd) != 0) ::_exit(126);
    ::execve("/bin/bash", s.argv, s.envp);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) ::_exit(126);
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  ::_exit(128 + WTERMSIG(status));
}

// The script's output: written to the log up to the cap, its end kept for messages.
class OutputSink {
 public:
  OutputSink(int log_fd, std::uint64_t cap) : log_fd_(log_fd), cap_(cap) {}

  void add(const char* data, std::size_t n) {
    const std::uint64_t room = bytes_ < cap_ ? cap_ - bytes_ : 0;
    const std::size_t keep = static_cast<std::size_t>(std::min<std::uint64_t>(n, room));
    for (std::size_t done = 0; done < keep;) {
      const ssize_t w = ::write(log_fd_, data + done, keep - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;  // a full disk loses log text, not the migration
      done += static_cast<std::size_t>(w);
    }
    bytes_ += n;
    tail_.append(data, n);
    if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
  }
  std::uint64_t bytes() const { return bytes_; }
  bool over_cap() const { return bytes_ > cap_; }

  // The last `max_lines` lines.
  std::string tail(std::size_t max_lines) const {
    std::string text = tail_;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    std::size_t pos = text.size(), lines = 0;
    while (pos > 0) {
      const std::size_t nl = text.rfind('\n', pos - 1);
      if (nl == std::string::npos) { pos = 0; break; }
      if (++lines == max_lines) { pos = nl + 1; break; }
      pos = nl;
    }
    return text.substr(pos);
  }

 private:
  static constexpr std::size_t kTailBytes = 16 << 10;
  int log_fd_;
  std::uint64_t cap_;
  std::uint64_t bytes_ = 0;
  std::string tail_;
};

// Reads what the pipe holds now; false at end of file.
bool drain(int fd, OutputSink& sink) {
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink.add(buf, static_cast<std::size_t>(n));
      if (sink.over_cap()) return true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return true;  // EAGAIN: nothing more for now
  }
}

// The processes of the sandbox: this process's descendants, except the trees of the children it
// had before the script started.
std::vector<ProcessEntry> sandbox_processes(const std::set<pid_t>& children_before) {
  const auto all = list_processes();
  std::set<pid_t> excluded;
  for (pid_t c : children_before) {
    excluded.insert(c);
    for (const auto& e : processes_below(all, c)) excluded.insert(e.pid);
  }
  std::vector<ProcessEntry> out;
  for (const auto& e : processes_below(all, ::getpid()))
    if (!excluded.count(e.pid)) out.push_back(e);
  return out;
}

// SIGKILLs every sandbox process and reaps the ones re-parented here, until none is left. A
// process forking as fast as it is killed is chased for at most a few seconds.
void stop_sandbox(const std::set<pid_t>& children_before) {
  const pid_t self = ::getpid();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int round = 0;; ++round) {
    const auto procs = sandbox_processes(children_before);
    if (procs.empty()) return;
    for (const auto& p : procs)
      if (p.state != 'Z') ::kill(p.pid, SIGKILL);
    for (const auto& p : procs)
      if (p.parent == self) ::waitpid(p.pid, nullptr, WNOHANG);
    if (std::chrono::steady_clock::now() > give_up) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(round + 1, 20)));
  }
}

}  // namespace

ScriptRunResult run_script(const ScriptRunRequest& request) {
  if (!std::isfinite(request.timeout_s) || request.timeout_s <= 0)
    fail("{}: the time limit must be a finite positive number of seconds, got {}", request.script.string(),
         request.timeout_s);
  // Everything the children need is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> argv_storage{"bash", request.script.string()};
  argv_storage.insert(argv_storage.end(), request.args.begin(), request.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = request.environment;
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string cwd = request.working_dir.string();

  struct Fds {
    int log = -1, in = -1, pipe_read = -1, pipe_write = -1;
    ~Fds() {
      for (int fd : {log, in, pipe_read, pipe_write})
        if (fd >= 0) ::close(fd);
    }
  } fds;
  fds.log = ::open(request.output_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fds.log < 0) throw Error(describe_file_error(request.output_log, errno, "script output log"));
  fds.in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2];
  if (fds.in < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0)
    fail("{}: cannot set up the sandbox: {}", request.script.string(), std::strerror(errno));
  fds.pipe_read = pipe_fds[0];
  fds.pipe_write = pipe_fds[1];
  ::fcntl(fds.pipe_read, F_SETFL, ::fcntl(fds.pipe_read, F_GETFL) | O_NONBLOCK);

  // Installed before fork, so that a Ctrl-C from now on stops the sandbox rather than primus alone.
  SignalGuard signals;
  SubreaperScope subreaper;
  const std::set<pid_t> children_before = children_of_this_process();
  const ChildSetup setup{::getpid(), fds.pipe_write, fds.in, cwd.c_str(), argv.data(), envp.data()};
  const pid_t supervisor = ::fork();
  if (supervisor < 0) fail("{}: cannot start bash: {}", request.script.string(), std::strerror(errno));
  if (supervisor == 0) supervise(setup);
  ::close(fds.pipe_write);
  fds.pipe_write = -1;

  ScriptRunResult result;
  OutputSink sink(fds.log, request.max_output_bytes);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(request.timeout_s));
  bool supervisor_done = false, pipe_open = true;
  int status = 0;
  std::optional<ReceivedSignal> interrupted;
  while (true) {
    if (pipe_open) {
      pollfd p{fds.pipe_read, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) pipe_open = drain(fds.pipe_read, sink);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (sink.over_cap()) {
      result.output_capped = true;
      break;
    }
    if ((interrupted = SignalGuard::pending())) break;
    if (::waitpid(supervisor, &status, WNOHANG) == supervisor) {
      supervisor_done = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      break;
    }
  }
  // Was it the script that signalled primus (e.g. `kill $(pgrep primus)`)? Asked before the kill.
  bool signal_from_script = false;
  if (interrupted && interrupted->sender > 0)
    for (const auto& p : sandbox_processes(children_before)) signal_from_script |= p.pid == interrupted->sender;

  // The script, its background jobs and whatever escaped its group or session: all of them go.
  stop_sandbox(children_before);
  if (!supervisor_done)
    while (::waitpid(supervisor, &status, 0) < 0 && errno == EINTR) {
    }
  if (pipe_open && !result.output_capped) drain(fds.pipe_read, sink);
  result.output_bytes = sink.bytes();
  result.output_tail = sink.tail(12);

  if (interrupted) {
    SignalGuard::take();
    if (signal_from_script)
      fail("{}: the script sent {} to primus; it was stopped with everything it started (a launch script must not "
           "signal the process running it)",
           request.script.string(), interrupted->name());
    throw Interrupted(fmt::format("{}: migration stopped by {}; the script and everything it started were stopped",
                                  request.script.string(), interrupted->name()),
                      interrupted->number);
  }
  if (supervisor_done) {
    if (WIFSIGNALED(status)) result.parent_killed_by = WTERMSIG(status);
    else if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else {
    result.exit_code = 128 + SIGKILL;
  }
  return result;
}

}  // namespace primus::migrate
