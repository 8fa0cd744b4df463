// The stand-ins a launch script meets in the dry-run sandbox: launchers (torchrun, deepspeed,
// python -m torch.distributed.run, python pretrain_gpt.py) record their argument vector and exit
// 0; mpirun/srun/sbatch/salloc/ssh/docker run run what they wrap right here, as node 0;
// probes (python -c "...device_count()", nvidia-smi, rocm-smi, rdma, ibv_devinfo, scontrol, ...)
// answer with plausible values for the configured GPU count; network and installer tools (pip,
// git clone, wget, curl, sleep) do nothing. Bash runs the real script; only these
// programs are faked, so the script's own logic is interpreted faithfully.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace primus::migrate {

// Environment variables the stand-ins read.
inline constexpr const char* kSandboxVar = "PRIMUS_MIGRATE_SANDBOX";  // folder holding captures/
inline constexpr const char* kGpusVar = "PRIMUS_MIGRATE_GPUS";        // GPUs per node to report

// Names of the programs faked.
const std::vector<std::string>& fake_tool_names();

// Writes the dispatcher and one executable per name into `bin_dir` (created).
void install_fake_tools(const std::filesystem::path& bin_dir);

// One recorded launcher call: how it was launched, the process count an enclosing mpirun/srun
// gave (0 if none), and its arguments.
struct RecordedCall {
  std::string launcher;            // "torchrun", "deepspeed", "python -m torch.distributed.run", "python"
  int64_t outer_processes = 0;     // from a fake mpirun -np N / srun -n N around it
  std::vector<std::string> argv;   // the launcher's arguments
};

// Reads every record in `captures_dir`, in the order the calls happened.
std::vector<RecordedCall> read_recorded_calls(const std::filesystem::path& captures_dir);

}  // namespace primus::migrate
