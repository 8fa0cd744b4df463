#include "core/threads.hpp"

#include <omp.h>
#include <sched.h>

#include "core/error.hpp"

namespace primus {

int num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  if (n < 1) fail("thread count must be at least 1, got {}", n);
  omp_set_num_threads(n);
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

}  // namespace primus
