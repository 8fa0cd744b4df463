#include "parallel/mpi_runtime.hpp"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace primus::parallel {

namespace {

MpiRuntime* g_runtime = nullptr;

#if defined(__SANITIZE_ADDRESS__)
// OpenMPI keeps allocations alive until the process exits (its component framework, hwloc, PMIx)
// and builds strings with asprintf, where the fast unwinder stops inside libc before reaching
// OpenMPI's frames. They are not this project's leaks (we format with fmt and never call
// asprintf); only these libraries are muted. Compiled into every binary that starts MPI, so a
// sanitizer build of `primus` or of a test needs no LSAN_OPTIONS.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-pal.so\n"
         "leak:libopen-rte.so\n"
         "leak:libpmix.so\n"
         "leak:libhwloc.so\n"
         "leak:libevent\n"
         "leak:mca_\n"
         "leak:vasprintf\n";
}
#endif

// MPI_User_function for bf16 sums: each element is widened, added in fp32 and rounded back.
void bf16_sum_function(void* in, void* inout, int* len, MPI_Datatype*) {
  const bf16* a = static_cast<const bf16*>(in);
  bf16* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = to_bf16(to_f32(a[i]) + to_f32(b[i]));
}

// Before MPI_Init succeeded there is no communicator to blame; after, errors carry MPI's text.
void check_init(int rc, const char* call) {
  if (rc != MPI_SUCCESS) fail("MPI: {} failed (code {}); is OpenMPI installed and mpirun the launcher?", call, rc);
}

}  // namespace

void check_mpi(int rc, const char* call, const std::string& group) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) std::snprintf(text, sizeof text, "error code %d", rc);
  fail("MPI error in {} on the {} group: {}", call, group, text);
}

MpiRuntime::MpiRuntime() {
  if (g_runtime) fail("internal: MPI initialised twice");
  int provided = MPI_THREAD_SINGLE;
#if defined(__SANITIZE_ADDRESS__)
  // What OpenMPI allocates while it starts (including in components it loads, then unloads when a
  // process runs alone, whose stacks no suppression can name) is its business, not a leak of ours.
  __lsan_disable();
#endif
  const int init_rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
#if defined(__SANITIZE_ADDRESS__)
  __lsan_enable();
#endif
  check_init(init_rc, "MPI_Init_thread");
  thread_multiple_ = provided >= MPI_THREAD_MULTIPLE;
  check_init(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  const std::string world = "world";
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank", world);
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size", world);
  check_mpi(MPI_Type_contiguous(2, MPI_BYTE, &bf16_type_), "MPI_Type_contiguous", world);
  check_mpi(MPI_Type_commit(&bf16_type_), "MPI_Type_commit", world);
  check_mpi(MPI_Op_create(&bf16_sum_function, /*commute=*/1, &bf16_sum_), "MPI_Op_create", world);
  // Megatron's default until the configuration is known (distributed_timeout_minutes = 10).
  watchdog_ = std::make_unique<Watchdog>(600.0, [this](const std::string& message) { fail_all(message); });
  g_runtime = this;
}

MpiRuntime::~MpiRuntime() {
  watchdog_.reset();
  g_runtime = nullptr;
  MPI_Op_free(&bf16_sum_);
  MPI_Type_free(&bf16_type_);
#if defined(__SANITIZE_ADDRESS__)
  // LeakSanitizer's usual check runs at exit, after MPI_Finalize has unloaded OpenMPI's components,
  // whose allocations would then show up as leaks in unknown modules. Check now instead, while
  // they are loaded (and mostly still referenced); the suppressions above mute the rest.
  __lsan_do_leak_check();
#endif
  MPI_Finalize();
}

void MpiRuntime::abort(int code) const {
  std::fflush(stdout);
  std::fflush(stderr);
  // MPI_Abort from a second thread needs MPI_THREAD_MULTIPLE; without it, exiting non-zero still
  // makes mpirun (and srun --kill-on-bad-exit) end the other ranks.
  if (thread_multiple_ || std::this_thread::get_id() == main_thread_) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void MpiRuntime::fail_all(const std::string& message, int code) const {
  std::fprintf(stderr, "primus: error: [rank %d/%d] %s\n", rank_, size_, message.c_str());
  abort(code);
}

MpiRuntime* MpiRuntime::current() { return g_runtime; }

MPI_Datatype MpiRuntime::bf16_type() {
  if (!g_runtime) fail("internal: bf16 MPI datatype used before MPI_Init");
  return g_runtime->bf16_type_;
}

MPI_Op MpiRuntime::bf16_sum() {
  if (!g_runtime) fail("internal: bf16 MPI sum used before MPI_Init");
  return g_runtime->bf16_sum_;
}

}  // namespace primus::parallel
