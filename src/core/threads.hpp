// Thread count for the kernels. All kernels parallelise with OpenMP; this is the one place that
// reads or sets how many threads they use (OMP_NUM_THREADS is honoured by default).
#pragma once

namespace primus {

// Threads an OpenMP parallel region started now would get.
int num_threads();
// Sets the thread count for later parallel regions (n >= 1; throws primus::Error otherwise).
void set_num_threads(int n);
// Cores this process may run on (sched affinity), >= 1.
int available_cores();

}  // namespace primus
