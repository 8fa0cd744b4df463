#include "migrate/fake_tools.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

// One bash dispatcher; every fake tool is a symlink to it and acts by the name it was called as.
constexpr const char* kDispatcher = R"BASH(#!/bin/bash
# Stand-in written by `primus migrate` for a dry run of a launch script (src/migrate/fake_tools.hpp).
name=${0##*/}
gpus=${PRIMUS_MIGRATE_GPUS:-8}
bin_dir=$(cd "${0%/*}" && pwd)

# Records one launcher call: launcher name, outer process count, then its arguments, NUL-separated.
record() {
  local stamp=${EPOCHREALTIME:-$SECONDS}
  stamp=${stamp/./}
  stamp=${stamp/,/}
  printf '%s\0' "$1" "${PRIMUS_MIGRATE_OUTER_NP:-0}" "${@:2}" \
    > "$PRIMUS_MIGRATE_SANDBOX/captures/${stamp}.$$.${RANDOM}"
  exit 0
}

# The real program of this name, looked up on PATH without this folder.
real_tool() {
  local IFS=: dir
  for dir in $PATH; do
    [[ -z $dir || $dir == "$bin_dir" ]] && continue
    [[ -x $dir/$1 && ! -d $dir/$1 ]] && { echo "$dir/$1"; return 0; }
  done
  return 1
}

answer_python_code() {
  case "$1" in
    *device_count*) echo "$gpus" ;;
    *is_available*) echo True ;;
    *version.hip*) echo 6.2.41133 ;;
    *version.cuda*) echo 12.4 ;;
    *__version__*) echo 2.5.0 ;;
    *gethostname*|*getfqdn*) echo node0 ;;
    *cpu_count*) getconf _NPROCESSORS_ONLN ;;
  esac
  exit 0
}

fake_python() {
  local args=("$@") i=0
  while (( i < ${#args[@]} )); do
    case "${args[i]}" in
      -c) answer_python_code "${args[i+1]}" ;;
      -m)
        case "${args[i+1]}" in
          torch.distributed.run|torch.distributed.launch)
            record "python -m ${args[i+1]}" "${args[@]:i+2}" ;;
          *) exit 0 ;;
        esac ;;
      -V|--version) echo "Python 3.10.12"; exit 0 ;;
      -W|-X|--check-hash-based-pycs) i=$((i + 2)) ;;
      -) cat > /dev/null; exit 0 ;;
      -*) i=$((i + 1)) ;;
      *) record python "${args[@]:i}" ;;
    esac
  done
  cat > /dev/null
  exit 0
}

fake_nvidia_smi() {
  local query="" nounits=0 a i f v line fields
  for a in "$@"; do
    case "$a" in
      --query-gpu=*) query=${a#--query-gpu=} ;;
      --format=*nounits*) nounits=1 ;;
      -L|--list-gpus)
        for ((i = 0; i < gpus; i++)); do
          printf 'GPU %d: NVIDIA H100 80GB HBM3 (UUID: GPU-%08d-0000-0000-0000-000000000000)\n' "$i" "$i"
        done
        exit 0 ;;
    esac
  done
  if [[ -n $query ]]; then
    IFS=, read -ra fields <<< "$query"
    for ((i = 0; i < gpus; i++)); do
      line=""
      for f in "${fields[@]}"; do
        case "$f" in
          index) v=$i ;;
          name|gpu_name) v="NVIDIA H100 80GB HBM3" ;;
          count) v=$gpus ;;
          memory.total) v=81559; (( nounits )) || v="$v MiB" ;;
          memory.used|memory.free|utilization.gpu) v=0; (( nounits )) || v="$v MiB" ;;
          uuid|gpu_uuid) v=$(printf 'GPU-%08d-0000-0000-0000-000000000000' "$i") ;;
          driver_version) v=550.54.15 ;;
          *) v="[N/A]" ;;
        esac
        line+="${line:+, }$v"
      done
      echo "$line"
    done
    exit 0
  fi
  echo "+-----------------------------------------------------------------------------+"
  echo "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"
  echo "+-----------------------------------------------------------------------------+"
  for ((i = 0; i < gpus; i++)); do
    printf '|   %d  NVIDIA H100 80GB HBM3      On  | 00000000:%02X:00.0 Off |        0 |\n' "$i" "$((i + 16))"
  done
  exit 0
}

fake_rocm_smi() {
  local i
  echo "============================ ROCm System Management Interface ============================"
  for ((i = 0; i < gpus; i++)); do
    case " $* " in
      *" --showproductname "*) printf 'GPU[%d]\t\t: Card Series: \t\tAMD Instinct MI300X\n' "$i" ;;
      *) printf 'GPU[%d]\t\t: Device ID: 0x74a1\n' "$i" ;;
    esac
  done
  echo "================================== End of ROCm SMI Log ==================================="
  exit 0
}

fake_amd_smi() {
  local i
  for ((i = 0; i < gpus; i++)); do
    printf 'GPU: %d\n    BDF: 0000:%02x:00.0\n    UUID: %08d-0000-0000-0000-000000000000\n\n' "$i" "$((i + 16))" "$i"
  done
  exit 0
}

fake_rdma() {
  local i
  for ((i = 0; i < 8; i++)); do
    case "$1" in
      dev) printf '%d: mlx5_%d: node_type ca fw 28.39.1002 node_guid 0000:0000:0000:000%d\n' "$i" "$i" "$i" ;;
      *) printf 'link mlx5_%d/1 state ACTIVE physical_state LINK_UP netdev ib%d\n' "$i" "$i" ;;
    esac
  done
  exit 0
}

fake_ibv_devinfo() {
  local i
  for ((i = 0; i < 8; i++)); do
    printf 'hca_id:\tmlx5_%d\n\ttransport:\t\t\tInfiniBand (0)\n\tphys_port_cnt:\t\t\t1\n' "$i"
    printf '\t\tport:\t1\n\t\t\tstate:\t\t\tPORT_ACTIVE (4)\n\t\t\tlink_layer:\t\tInfiniBand\n\n'
  done
  exit 0
}

fake_ibv_devices() {
  local i
  printf '    device          \t   node GUID\n    ------          \t----------------\n'
  for ((i = 0; i < 8; i++)); do printf '    mlx5_%d          \t000000000000000%d\n' "$i" "$i"; done
  exit 0
}

# mpirun/mpiexec/srun: note the process count, then run the wrapped command (a fake python records it).
fake_process_launcher() {
  local args=("$@") i=0 np=0 nodes=0 per_node=0 a
  while (( i < ${#args[@]} )); do
    a=${args[i]}
    case "$a" in
      -np|-n|--np|--ntasks) np=${args[i+1]}; i=$((i + 2)) ;;
      --ntasks=*|--np=*) np=${a#*=}; i=$((i + 1)) ;;
      -N|--nodes) nodes=${args[i+1]}; i=$((i + 2)) ;;
      --nodes=*) nodes=${a#*=}; i=$((i + 1)) ;;
      --npernode|-npernode|--ntasks-per-node) per_node=${args[i+1]}; i=$((i + 2)) ;;
      --ntasks-per-node=*) per_node=${a#*=}; i=$((i + 1)) ;;
      -mca|--mca|-gmca|--gmca) i=$((i + 3)) ;;
      -H|--host|-host|--hostfile|-hostfile|--machinefile|-machinefile|-x|--bind-to|-bind-to|--map-by|-map-by|\
      --rank-by|-wdir|--wdir|-wd|--prefix|-c|--cpus-per-task|-p|--partition|-t|--time|-J|--job-name|-o|--output|\
      -e|--error|-w|--nodelist|-A|--account|--mpi|--gpus-per-node|--gres|--container-image|--container-mounts)
        i=$((i + 2)) ;;
      -*) i=$((i + 1)) ;;
      *) break ;;
    esac
  done
  if (( np == 0 && per_node > 0 )); then np=$(( per_node * (nodes > 0 ? nodes : 1) )); fi
  (( i < ${#args[@]} )) || exit 0
  PRIMUS_MIGRATE_OUTER_NP=$np exec "${args[@]:i}"
}

# sbatch/salloc: run the job script (or command) here, as node 0 of the allocation it asks for.
fake_slurm_allocation() {
  local args=("$@") i=0 nodes=0 a line
  while (( i < ${#args[@]} )); do
    a=${args[i]}
    case "$a" in
      -N|--nodes) nodes=${args[i+1]}; i=$((i + 2)) ;;
      --nodes=*) nodes=${a#*=}; i=$((i + 1)) ;;
      --wrap=*) args=(bash -c "${a#--wrap=}"); i=0; break ;;
      -*=*) i=$((i + 1)) ;;
      -J|-p|-t|-o|-e|-A|-q|-c|-n|-w|-x|-D|--job-name|--partition|--time|--output|--error|--account|--qos|\
      --ntasks|--ntasks-per-node|--cpus-per-task|--gpus|--gpus-per-node|--gres|--mem|--chdir|--nodelist|--exclude|\
      --dependency|--array|--reservation|--constraint|-C|-d|-a)
        i=$((i + 2)) ;;
      -*) i=$((i + 1)) ;;
      *) break ;;
    esac
  done
  (( i < ${#args[@]} )) || exit 0
  local cmd=("${args[@]:i}")
  if [[ $name == sbatch && -f ${cmd[0]} ]]; then
    if (( nodes == 0 )); then
      while IFS= read -r line; do
        case "$line" in
          "#SBATCH --nodes="*) nodes=${line#"#SBATCH --nodes="} ;;
          "#SBATCH -N "*) nodes=${line#"#SBATCH -N "} ;;
          "#SBATCH --nodes "*) nodes=${line#"#SBATCH --nodes "} ;;
        esac
      done < "${cmd[0]}"
    fi
    cmd=(bash "${cmd[@]}")
  fi
  (( nodes > 0 )) || nodes=1
  export SLURM_NNODES=$nodes SLURM_JOB_NUM_NODES=$nodes SLURM_NODEID=0 SLURM_PROCID=0 SLURM_LOCALID=0
  export SLURM_JOB_ID=1 SLURM_JOB_NODELIST="node[0-$((nodes - 1))]" SLURM_GPUS_ON_NODE=$gpus
  exec "${cmd[@]}"
}

# ssh HOST COMMAND: the command runs here (multi-node scripts start one launch per host this way).
fake_ssh() {
  local args=("$@") i=0
  while (( i < ${#args[@]} )); do
    case "${args[i]}" in
      -p|-o|-i|-l|-F|-J|-E|-b|-c|-D|-L|-R|-W|-w|-S|-Q|-O|-m|-e) i=$((i + 2)) ;;
      -*) i=$((i + 1)) ;;
      *) break ;;
    esac
  done
  i=$((i + 1))  # the host
  (( i < ${#args[@]} )) || exit 0
  exec bash -c "${args[*]:i}"
}

# docker/podman run|exec IMAGE COMMAND: the command runs here, with the -e variables it sets.
fake_container() {
  case "$1" in run|exec) ;; *) exit 0 ;; esac
  local args=("${@:2}") i=0 a
  while (( i < ${#args[@]} )); do
    a=${args[i]}
    case "$a" in
      -e|--env) export "${args[i+1]}" 2>/dev/null; i=$((i + 2)) ;;
      --env=*) export "${a#--env=}" 2>/dev/null; i=$((i + 1)) ;;
      -v|--volume|--name|-w|--workdir|--network|--net|--ipc|--shm-size|--device|--group-add|--cap-add|\
      --security-opt|-u|--user|--mount|--entrypoint|--env-file|-p|--publish|--ulimit|--gpus|--runtime|-h|--hostname)
        i=$((i + 2)) ;;
      -*) i=$((i + 1)) ;;
      *) break ;;
    esac
  done
  i=$((i + 1))  # the image or container
  (( i < ${#args[@]} )) || exit 0
  exec "${args[@]:i}"
}

fake_git() {
  case "$1" in
    clone)
      local a target="" url=""
      shift
      for a in "$@"; do
        case "$a" in -*) ;; *) if [[ -z $url ]]; then url=$a; else target=$a; fi ;; esac
      done
      [[ -z $target ]] && { target=${url##*/}; target=${target%.git}; }
      [[ -n $target ]] && mkdir -p "$target"
      exit 0 ;;
    fetch|pull|push|submodule|lfs|ls-remote) exit 0 ;;
  esac
  local real
  real=$(real_tool git) && exec "$real" "$@"
  exit 0
}

case "$name" in
  torchrun|torch.distributed.run) record torchrun "$@" ;;
  deepspeed) record deepspeed "$@" ;;
  python|python3|python3.*) fake_python "$@" ;;
  nvidia-smi) fake_nvidia_smi "$@" ;;
  rocm-smi) fake_rocm_smi "$@" ;;
  amd-smi) fake_amd_smi "$@" ;;
  rdma) fake_rdma "$@" ;;
  ibv_devinfo|ibstat) fake_ibv_devinfo "$@" ;;
  ibv_devices) fake_ibv_devices "$@" ;;
  mpirun|mpiexec|srun) fake_process_launcher "$@" ;;
  scontrol) for ((n = 0; n < ${SLURM_NNODES:-1}; n++)); do echo "node$n"; done; exit 0 ;;
  sbatch|salloc) fake_slurm_allocation "$@" ;;
  ssh) fake_ssh "$@" ;;
  docker|podman) fake_container "$@" ;;
  git) fake_git "$@" ;;
  *) exit 0 ;;  # pip, wget, curl, docker, sleep, ...: nothing to do in a dry run
esac
)BASH";

}  // namespace

const std::vector<std::string>& fake_tool_names() {
  static const std::vector<std::string> names{
      "torchrun",   "deepspeed",   "python",  "python3",  "nvidia-smi", "rocm-smi", "amd-smi",
      "rdma",       "ibv_devinfo", "ibstat",  "ibv_devices", "mpirun", "mpiexec",  "srun",
      "scontrol",   "git",         "pip",     "pip3",     "conda",      "wget",     "curl",
      "docker",     "podman",      "sleep",   "huggingface-cli", "apt-get", "sbatch",
      "salloc",     "ssh"};
  return names;
}

void install_fake_tools(const fs::path& bin_dir) {
  fs::create_directories(bin_dir);
  fs::path dispatcher = bin_dir / "primus-migrate-fake";
  io::write_file_atomically(dispatcher, kDispatcher, false);
  fs::permissions(dispatcher, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  for (const auto& name : fake_tool_names()) {
    std::error_code ec;
    fs::create_symlink(dispatcher.filename(), bin_dir / name, ec);
    if (ec) fail("{}: cannot create the stand-in '{}': {}", bin_dir.string(), name, ec.message());
  }
}

std::vector<RecordedCall> read_recorded_calls(const fs::path& captures_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(captures_dir, ec))
    if (entry.is_regular_file()) files.push_back(entry.path());
  // Names start with the call's time in microseconds: order by that number.
  auto stamp = [](const fs::path& p) {
    std::string name = p.filename().string();
    return std::strtoull(name.substr(0, name.find('.')).c_str(), nullptr, 10);
  };
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    auto x = stamp(a), y = stamp(b);
    return x != y ? x < y : a.filename() < b.filename();
  });
  std::vector<RecordedCall> calls;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> fields;
    size_t start = 0;
    for (size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] == '\0') {
        fields.push_back(bytes.substr(start, i - start));
        start = i + 1;
      }
    if (fields.size() < 2) continue;  // a call killed while writing
    RecordedCall call;
    call.launcher = fields[0];
    try {
      call.outer_processes = std::stoll(fields[1]);
    } catch (const std::exception&) {
      call.outer_processes = 0;
    }
    call.argv.assign(fields.begin() + 2, fields.end());
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace primus::migrate
