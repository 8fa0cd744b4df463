// The processes a sandboxed launch script started, found through /proc: a script may background
// jobs, double-fork or call setsid to leave its process group and session, but it cannot leave
// the tree of its ancestors — with this process marked as a child subreaper (prctl), orphans are
// re-parented here rather than to init, so they stay findable and can be stopped.
#pragma once

#include <sys/types.h>

#include <set>
#include <vector>

namespace primus::migrate {

struct ProcessEntry {
  pid_t pid = 0;
  pid_t parent = 0;
  char state = '?';  // 'R', 'S', 'Z' (zombie), ...
};

// Every process visible in /proc.
std::vector<ProcessEntry> list_processes();

// Processes below `root` (its children, their children, ...), `root` not included.
std::vector<ProcessEntry> processes_below(const std::vector<ProcessEntry>& all, pid_t root);

// This process's direct children.
std::set<pid_t> children_of_this_process();

// Marks this process as a child subreaper for as long as the object lives (then restores the
// previous setting).
class SubreaperScope {
 public:
  SubreaperScope();
  ~SubreaperScope();
  SubreaperScope(const SubreaperScope&) = delete;
  SubreaperScope& operator=(const SubreaperScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace primus::migrate
