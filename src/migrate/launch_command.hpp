// A launcher call taken apart: the launcher's own options (--nproc_per_node, --nnodes, ...) give
// the run's process layout, the first non-option names the training script, and everything after
// it is the training script's argument list — the Megatron flags to migrate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primus::migrate {

struct ProcessLayout {
  int64_t processes_per_node = 1;
  int64_t nodes = 1;
  std::string source;            // how it was found: "--nproc_per_node 8 --nnodes 1", "mpirun -np 16"

  int64_t world_size() const { return processes_per_node * nodes; }
};

struct LaunchCommand {
  std::string launcher;                    // torchrun, deepspeed, "python -m torch.distributed.run", python
  std::vector<std::string> launcher_args;  // the launcher's own options
  ProcessLayout layout;
  std::string training_script;             // pretrain_gpt.py
  std::vector<std::string> training_args;  // the Megatron flags

  // True when the script looks like a training entry point (pretrain_gpt.py, train.py, ...).
  bool is_training() const;
  // "torchrun --nproc_per_node 8 ... pretrain_gpt.py (74 arguments)"
  std::string describe() const;
  // "16 processes (2 nodes x 8)", with the layout's source when it is not the launcher's options.
  std::string describe_layout() const;
};

// The layout the user states for the run (migrate's --nnodes / --world-size), over the one the
// launch line gives (a script that hard-codes NUM_NODES=1 for a 128-GPU layout): `nodes` keeps
// the processes per node; `world_size` alone keeps them when it is a multiple, else is one node
// of that many; both give world_size / nodes per node. 0 = not given.
void restate_layout(ProcessLayout& layout, int64_t nodes, int64_t world_size);

// `gpus` answers --nproc_per_node gpu/auto and deepspeed's default; `outer_processes` is the
// process count of an enclosing mpirun/srun (0: none).
LaunchCommand parse_launch_command(const std::string& launcher, const std::vector<std::string>& argv,
                                   int64_t gpus, int64_t outer_processes);

// A command line pasted from a log: either bare Megatron flags, or a launcher line
// ("torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 32 ...", "python pretrain_gpt.py ...").
LaunchCommand parse_pasted_command(const std::vector<std::string>& tokens, int64_t gpus);

}  // namespace primus::migrate
