#include "migrate/script_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
  int control_fd;    // read end: a byte or end-of-file (primus gone) means "stop everything"
  int control_write; // primus' end, closed in the supervisor
  const char* cwd;
  char** argv;
  char** envp;
};

// --- Async-signal-safe helpers for the supervisor (it is forked from a process that may run threads).

// Appends the decimal digits of v to buf at pos; returns the new pos.
std::size_t put_number(char* buf, std::size_t pos, long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) buf[pos++] = digits[--n];
  return pos;
}

long read_number(const char*& p, const char* end) {
  long v = 0;
  while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

// The parent pid in /proc/<pid>/stat, or -1.
long parent_of(long pid) {
  char path[64] = "/proc/";
  std::size_t n = put_number(path, 6, pid);
  const char tail[] = "/stat";
  for (std::size_t k = 0; k < sizeof tail; ++k) path[n + k] = tail[k];
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  const ssize_t got = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (got <= 0) return -1;
  const char* close = nullptr;
  for (const char* q = buf; q < buf + got; ++q)
    if (*q == ')') close = q;
  if (close == nullptr || close + 4 >= buf + got) return -1;
  const char* p = close + 4;  // ") S " then the parent pid
  return read_number(p, buf + got);
}

// SIGKILLs every child of the supervisor; returns how many it found.
int kill_children(const char* children_file) {
  int found = 0;
  const int fd = ::open(children_file, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {  // CONFIG_PROC_CHILDREN: the kernel lists them
    char buf[4096];
    ssize_t got;
    while ((got = ::read(fd, buf, sizeof buf)) > 0) {
      const char* p = buf;
      const char* end = buf + got;
      while (p < end) {
        const long pid = read_number(p, end);
        if (pid > 0) {
          ::kill(static_cast<pid_t>(pid), SIGKILL);
          ++found;
        }
        ++p;  // the separating space (a number split across reads is re-listed next round)
      }
    }
    ::close(fd);
    return found;
  }
  // Otherwise: every process whose parent is this one.
  const long self = ::getpid();
  const int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return 0;
  alignas(8) char buf[8192];
  long got;
  while ((got = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      // struct linux_dirent64: u64 inode, s64 offset, u16 record length, u8 type, name.
      const auto* rec = reinterpret_cast<const unsigned char*>(buf + off);
      const unsigned reclen = static_cast<unsigned>(rec[16]) | (static_cast<unsigned>(rec[17]) << 8);
      const char* p = reinterpret_cast<const char*>(rec + 19);
      const long pid = read_number(p, p + 24);
      if (pid > 0 && *p == '\0' && parent_of(pid) == self) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        ++found;
      }
      if (reclen == 0) break;
      off += reclen;
    }
  }
  ::close(dir);
  return found;
}

// Runs in the forked supervisor: only async-signal-safe calls from here on. A child subreaper in
// a new session: it starts bash, reaps whatever the script leaves behind, and when bash ends or
// primus asks (or is gone), kills every process left below it before it exits with bash's status.
// Signals the script sends it are ignored; only SIGKILL stops it.
[[noreturn]] void supervise(ChildSetup s) {
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  if (::getppid() != s.parent) ::_exit(125);  // primus died already
  ::close(s.control_write);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  for (int sig : kShieldedSignals) ::sigaction(sig, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const pid_t supervisor = ::getpid();
  char children_file[96] = "/proc/";
  {
    std::size_t n = put_number(children_file, 6, supervisor);
    const char task[] = "/task/";
    for (std::size_t k = 0; k + 1 < sizeof task; ++k) children_file[n++] = task[k];
    n = put_number(children_file, n, supervisor);
    const char tail[] = "/children";
    for (std::size_t k = 0; k < sizeof tail; ++k) children_file[n + k] = tail[k];
  }
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
  ::close(s.output_fd);  // the script's copies are the only writers left
  int code = 128 + SIGKILL;
  while (true) {
    int status = 0;
    const pid_t w = ::waitpid(-1, &status, WNOHANG);
    if (w == child) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (w > 0) continue;  // an orphan of the script, re-parented here
    char byte;
    const ssize_t r = ::read(s.control_fd, &byte, 1);
    if (r >= 0 || ::getppid() != s.parent) break;  // asked to stop, or primus is gone
    pollfd p{s.control_fd, POLLIN, 0};
    ::poll(&p, 1, 5);
  }
  // Everything the script left: its children die, their children come here (subreaper), and so on.
  for (int round = 0; round < 10000; ++round) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) break;
    kill_children(children_file);
    const timespec pause{0, 1000000};
    ::nanosleep(&pause, nullptr);
  }
  ::_exit(code);
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
  const std::string name = request.display_name.empty() ? request.script.string() : request.display_name;
  if (!std::isfinite(request.timeout_s) || request.timeout_s <= 0)
    fail("{}: the time limit must be a finite positive number of seconds, got {}", name, request.timeout_s);
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
    int log = -1, in = -1, out_read = -1, out_write = -1, control_read = -1, control_write = -1;
    ~Fds() {
      for (int fd : {log, in, out_read, out_write, control_read, control_write})
        if (fd >= 0) ::close(fd);
    }
  } fds;
  fds.log = ::open(request.output_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fds.log < 0) throw Error(describe_file_error(request.output_log, errno, "script output log"));
  fds.in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fds[2], control_fds[2];
  if (fds.in < 0 || ::pipe2(out_fds, O_CLOEXEC) != 0)
    fail("{}: cannot set up the sandbox: {}", name, std::strerror(errno));
  fds.out_read = out_fds[0];
  fds.out_write = out_fds[1];
  if (::pipe2(control_fds, O_CLOEXEC) != 0) fail("{}: cannot set up the sandbox: {}", name, std::strerror(errno));
  fds.control_read = control_fds[0];
  fds.control_write = control_fds[1];
  ::fcntl(fds.out_read, F_SETFL, ::fcntl(fds.out_read, F_GETFL) | O_NONBLOCK);
  ::fcntl(fds.control_read, F_SETFL, ::fcntl(fds.control_read, F_GETFL) | O_NONBLOCK);

  // Installed before fork, so that a Ctrl-C from now on stops the sandbox rather than primus alone.
  SignalGuard signals;
  // Should the supervisor itself be killed, the script's orphans come here and are stopped below.
  SubreaperScope subreaper;
  const std::set<pid_t> children_before = children_of_this_process();
  const ChildSetup setup{::getpid(), fds.out_write, fds.in, fds.control_read, fds.control_write, cwd.c_str(),
                         argv.data(), envp.data()};
  const pid_t supervisor = ::fork();
  if (supervisor < 0) fail("{}: cannot start bash: {}", name, std::strerror(errno));
  if (supervisor == 0) supervise(setup);
  for (int* fd : {&fds.out_write, &fds.control_read}) {
    ::close(*fd);
    *fd = -1;
  }

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
      pollfd p{fds.out_read, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) pipe_open = drain(fds.out_read, sink);
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

  if (!supervisor_done) {
    // Ask the supervisor to stop the script and everything below it; if it cannot, kill it.
    ::close(fds.control_write);
    fds.control_write = -1;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(supervisor, &status, WNOHANG) != supervisor) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(supervisor, SIGKILL);
        while (::waitpid(supervisor, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      if (pipe_open) pipe_open = drain(fds.out_read, sink);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  // Whatever escaped the supervisor (it was SIGKILLed by the script) was re-parented here.
  stop_sandbox(children_before);
  if (pipe_open && !result.output_capped) drain(fds.out_read, sink);
  result.output_bytes = sink.bytes();
  result.output_tail = sink.tail(12);

  if (interrupted) {
    SignalGuard::take();
    if (signal_from_script)
      fail("{}: the script sent {} to primus; it was stopped with everything it started (a launch script must not "
           "signal the process running it)",
           name, interrupted->name());
    throw Interrupted(fmt::format("{}: migration stopped by {}; the script and everything it started were stopped",
                                  name, interrupted->name()),
                      interrupted->number);
  }
  if (supervisor_done && WIFSIGNALED(status)) result.parent_killed_by = WTERMSIG(status);
  else if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else result.exit_code = 128 + SIGKILL;
  return result;
}

}  // namespace primus::migrate
