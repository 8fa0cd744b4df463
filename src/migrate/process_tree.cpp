#include "migrate/process_tree.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

// /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and ')', so read after the last ')'.
bool read_stat(pid_t pid, ProcessEntry& out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  long ppid = 0;
  rest >> out.state >> ppid;
  if (!rest) return false;
  out.pid = pid;
  out.parent = static_cast<pid_t>(ppid);
  return true;
}

}  // namespace

std::vector<ProcessEntry> list_processes() {
  std::vector<ProcessEntry> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    ProcessEntry e;
    if (read_stat(static_cast<pid_t>(std::stol(name)), e)) out.push_back(e);  // gone meanwhile: skipped
  }
  return out;
}

std::vector<ProcessEntry> processes_below(const std::vector<ProcessEntry>& all, pid_t root) {
  std::multimap<pid_t, const ProcessEntry*> children;
  for (const auto& e : all) children.emplace(e.parent, &e);
  std::vector<ProcessEntry> out;
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(p);
    for (auto it = lo; it != hi; ++it) {
      if (it->second->pid == root) continue;
      out.push_back(*it->second);
      todo.push_back(it->second->pid);
    }
  }
  return out;
}

std::set<pid_t> children_of_this_process() {
  std::set<pid_t> out;
  for (const auto& e : list_processes())
    if (e.parent == ::getpid()) out.insert(e.pid);
  return out;
}

SubreaperScope::SubreaperScope() {
  ::prctl(PR_GET_CHILD_SUBREAPER, &previous_, 0, 0, 0);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

SubreaperScope::~SubreaperScope() { ::prctl(PR_SET_CHILD_SUBREAPER, previous_, 0, 0, 0); }

}  // namespace primus::migrate
