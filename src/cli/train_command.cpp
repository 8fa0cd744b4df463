// `primus train pretrain`: resolve and validate the experiment for the processes MPI started,
// build the process groups, then train. Processes are started by mpirun or srun (see
// examples/run_pretrain.sh), never by us; a process started alone is a world of one.
//
// Failure handling across ranks:
//  * errors every rank meets at the same point (a bad configuration, a missing data file, a NaN
//    loss) are agreed on: one message, every rank finalises MPI and exits 2;
//  * an error on one rank only (bad data in its share, a failed write) prints that rank's message
//    and aborts every rank through MPI (exit code 2);
//  * a rank that stops answering is caught by the collective watchdog (distributed_timeout_minutes,
//    then distributed_timeout_seconds_after_init), which aborts the run with a message.
#include <cstdlib>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "parallel/collective_error.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/parallel_state.hpp"
#include "train/trainer.hpp"

namespace primus::cli {

namespace {

// A launcher's process count that MPI did not honour (e.g. torchrun, which starts processes
// without MPI): one line saying how to launch instead.
void check_launcher_environment(int mpi_world) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n > 0 && n != mpi_world)
      fail("the environment says {}={} but MPI started {} process{}; primus runs under mpirun or srun, e.g. "
           "'mpirun -np {} build/primus train pretrain ...' or 'GPUS_PER_NODE={} bash examples/run_pretrain.sh'",
           name, v, mpi_world, mpi_world == 1 ? "" : "es", v, v);
  }
}

void pretrain(const std::string& experiment, const std::vector<std::string>& overrides, parallel::MpiRuntime& mpi) {
  const int world = mpi.size();
  // Agreement before the process groups exist: a duplicate of MPI_COMM_WORLD (a world of one
  // needs no MPI at all, so its errors surface unchanged).
  std::optional<parallel::Communicator> startup;
  if (world > 1) {
    MPI_Comm dup = MPI_COMM_NULL;
    parallel::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup", "world");
    std::vector<int> ranks(static_cast<std::size_t>(world));
    for (int r = 0; r < world; ++r) ranks[static_cast<std::size_t>(r)] = r;
    startup.emplace(dup, "world", std::move(ranks), &mpi.watchdog());
  } else {
    startup.emplace("world");
  }

  std::optional<config::ResolvedConfig> resolved;
  std::unique_ptr<parallel::ParallelState> state;
  parallel::run_agreed(*startup, [&] {
    check_launcher_environment(world);
    config::ResolveOptions ro;
    ro.config = experiment;
    ro.overrides = overrides;
    ro.world_size = world;
    resolved = config::resolve(ro);
    const config::Args& a = resolved->args;
    mpi.watchdog().set_timeout(60.0 * static_cast<double>(a.distributed_timeout_minutes), "distributed_timeout_minutes");
  });
  parallel::run_agreed(*startup, [&] {
    const config::Args& a = resolved->args;
    parallel::ProcessGroups layout(parallel::ParallelSizes::from_args(a), parallel::EmbeddingPlacement::from_args(a));
    if (world > 1) state = parallel::ParallelState::from_mpi(layout, &mpi.watchdog());
  });
  startup.reset();
  train::Trainer trainer(*resolved, state.get());
  trainer.run();
}

}  // namespace

void register_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "Train a model");
  train->require_subcommand(1);
  auto config = std::make_shared<std::string>();
  auto* pretrain_cmd = train->add_subcommand(
      "pretrain", "Pretrain a GPT-style decoder from an experiment file (under mpirun or srun for several processes)");
  pretrain_cmd->add_option("--config", *config, "Experiment YAML file")->required();
  allow_overrides(*pretrain_cmd);
  pretrain_cmd->callback([config, pretrain_cmd] {
    parallel::MpiRuntime mpi;
    try {
      pretrain(*config, collect_overrides(*pretrain_cmd), mpi);
    } catch (const parallel::CollectiveError& e) {
      if (mpi.size() == 1) throw;
      if (e.print_here()) std::fprintf(stderr, "primus: error: %s\n", e.what());
      throw ExitStatus{2};  // every rank leaves here; MPI is finalised on the way out
    } catch (const Error& e) {
      if (mpi.size() == 1) throw;
      mpi.fail_all(e.what());
    } catch (const std::exception& e) {
      if (mpi.size() == 1) throw;
      mpi.fail_all(std::string("internal error: ") + e.what(), 3);
    }
  });
}

}  // namespace primus::cli
