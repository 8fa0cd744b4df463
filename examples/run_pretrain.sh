#!/bin/bash
# Launches `primus train pretrain` on one or several machines with upstream Primus' interface
# (examples/run_pretrain.sh): EXP names the experiment, NNODES/NODE_RANK/GPUS_PER_NODE describe
# the job, extra arguments are configuration overrides. Processes are started by OpenMPI's mpirun
# or, inside a Slurm allocation, by srun; every process reads its rank and the world size from MPI.
set -euo pipefail

print_usage() {
  cat <<EOF
Usage: EXP=path/to/experiment.yaml [VAR=...] bash $(basename "$0") [overrides...]

Environment variables:
    EXP                    experiment file (required)
    NNODES=1               number of machines (inside a Slurm allocation: the allocation's)
    NODE_RANK=0            this machine's index (processes are started from node 0; see below)
    GPUS_PER_NODE=8        processes per machine (one per socket or core group on CPUs)
    MASTER_ADDR=localhost  the machine that starts the job (node 0)
    MASTER_PORT=1234       accepted for compatibility; mpirun and srun choose their own ports
    HOSTFILE               OpenMPI hostfile listing the NNODES machines (required when NNODES > 1
                           outside Slurm), e.g. lines "node1 slots=8"
    OMP_NUM_THREADS        threads per process (default: this machine's cores / GPUS_PER_NODE)
    LAUNCHER=auto          auto (srun inside a Slurm allocation, else mpirun), mpirun or srun
    PRIMUS_BIN             the primus binary (default: build/primus next to this script)
    TRAIN_LOG              copy of the output (default: output/log_mp_pretrain_<experiment>.txt)
    MPIRUN_ARGS, SRUN_ARGS extra launcher arguments (e.g. SRUN_ARGS="--mpi=pmix")

Overrides are any configuration argument: --train_iters 20 --lr=3e-4 --bf16 ...

Examples:
    EXP=examples/megatron/configs/tiny_llama-pretrain.yaml GPUS_PER_NODE=2 bash $(basename "$0")
    EXP=exp.yaml NNODES=2 GPUS_PER_NODE=8 HOSTFILE=hosts bash $(basename "$0")      # on node 0
    salloc -N 2 --ntasks-per-node 8 EXP=exp.yaml GPUS_PER_NODE=8 bash $(basename "$0")
EOF
}

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  print_usage
  exit 0
fi

# Inside a Slurm allocation the node count defaults to the allocation's.
if [[ -z "${NNODES:-}" && -n "${SLURM_JOB_ID:-}" && -n "${SLURM_NNODES:-}" ]]; then NNODES=$SLURM_NNODES; fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-1234}
LAUNCHER=${LAUNCHER:-auto}
HOST=$(hostname)

log() { echo "[NODE-$NODE_RANK($HOST)] [INFO] $*"; }
die() {
  echo "[NODE-$NODE_RANK($HOST)] [ERROR] $*" >&2
  exit 1
}

PRIMUS_PATH=$(realpath "$(dirname "$0")/..")
PRIMUS_BIN=${PRIMUS_BIN:-"$PRIMUS_PATH/build/primus"}

[[ -n "${EXP:-}" ]] || die "EXP must name the experiment file (e.g. EXP=examples/megatron/configs/tiny_llama-pretrain.yaml)"
[[ -f "$EXP" ]] || die "the experiment file does not exist: $EXP"
[[ -x "$PRIMUS_BIN" ]] || die "primus is not built: $PRIMUS_BIN (build it with: bash scripts/build.sh build)"
for v in NNODES NODE_RANK GPUS_PER_NODE; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -ge 0 ]] || die "$v=${!v} is not a number"
done
((NNODES >= 1 && GPUS_PER_NODE >= 1)) || die "NNODES and GPUS_PER_NODE must be at least 1"
((NODE_RANK < NNODES)) || die "NODE_RANK=$NODE_RANK must be below NNODES=$NNODES"

if [[ "$LAUNCHER" == auto ]]; then
  if [[ -n "${SLURM_JOB_ID:-}" ]] && command -v srun >/dev/null; then LAUNCHER=srun; else LAUNCHER=mpirun; fi
fi
[[ "$LAUNCHER" == mpirun || "$LAUNCHER" == srun ]] || die "LAUNCHER=$LAUNCHER: expected auto, mpirun or srun"

# One launcher starts every process of the job. Upstream runs this script on every node; with
# mpirun only node 0 launches (over ssh, from the hostfile), so the other nodes have nothing to do.
if [[ "$LAUNCHER" == mpirun && "$NODE_RANK" -ne 0 ]]; then
  log "processes of node $NODE_RANK are started by mpirun on node 0 ($MASTER_ADDR); nothing to do here"
  exit 0
fi

WORLD_SIZE=$((NNODES * GPUS_PER_NODE))
CORES=$(nproc)
if [[ -z "${OMP_NUM_THREADS:-}" ]]; then
  OMP_NUM_THREADS=$((CORES / GPUS_PER_NODE))
  ((OMP_NUM_THREADS >= 1)) || OMP_NUM_THREADS=1
fi
export OMP_NUM_THREADS

TRAIN_LOG=${TRAIN_LOG:-"output/log_mp_pretrain_$(basename "$EXP" .yaml).txt"}
mkdir -p "$(dirname "$TRAIN_LOG")"

log "==========Training cluster info=========="
log "MASTER_ADDR: $MASTER_ADDR  NNODES: $NNODES  NODE_RANK: $NODE_RANK  GPUS_PER_NODE (processes): $GPUS_PER_NODE"
log "world size: $WORLD_SIZE  threads per process: $OMP_NUM_THREADS  launcher: $LAUNCHER"
log "EXP: $EXP  TRAIN_LOG: $TRAIN_LOG"

CMD=()
if [[ "$LAUNCHER" == srun ]]; then
  [[ -n "${SLURM_JOB_ID:-}" ]] || die "LAUNCHER=srun needs a Slurm allocation (salloc or sbatch)"
  # shellcheck disable=SC2206
  CMD=(srun --nodes "$NNODES" --ntasks-per-node "$GPUS_PER_NODE" --cpus-per-task "$OMP_NUM_THREADS"
       --kill-on-bad-exit=1 ${SRUN_ARGS:-})
else
  if ((GPUS_PER_NODE * OMP_NUM_THREADS <= CORES)); then
    # Each process gets cores of its own for its threads.
    CMD=(mpirun -np "$WORLD_SIZE" --map-by "ppr:$GPUS_PER_NODE:node:PE=$OMP_NUM_THREADS" --bind-to core)
  else
    CMD=(mpirun -np "$WORLD_SIZE" --map-by "ppr:$GPUS_PER_NODE:node" --oversubscribe --bind-to none)
  fi
  if ((NNODES > 1)); then
    [[ -n "${HOSTFILE:-}" ]] || die "NNODES=$NNODES: set HOSTFILE to an OpenMPI hostfile listing the $NNODES machines (lines like 'node1 slots=$GPUS_PER_NODE'), or run inside a Slurm allocation"
    [[ -f "$HOSTFILE" ]] || die "HOSTFILE does not exist: $HOSTFILE"
    hosts=$(grep -cvE '^[[:space:]]*(#|$)' "$HOSTFILE" || true)
    ((hosts >= NNODES)) || die "HOSTFILE $HOSTFILE lists $hosts machines, NNODES is $NNODES"
    CMD+=(--hostfile "$HOSTFILE" -x OMP_NUM_THREADS -x PATH -x LD_LIBRARY_PATH)
  else
    # One machine: shared-memory transport unless the environment chose otherwise.
    export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
    export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
  fi
  if [[ "$(id -u)" == 0 ]]; then CMD+=(--allow-run-as-root); fi
  # shellcheck disable=SC2206
  CMD+=(${MPIRUN_ARGS:-})
fi
CMD+=("$PRIMUS_BIN" train pretrain --config "$EXP" "$@")

log "launching: ${CMD[*]}"
set +e
"${CMD[@]}" 2>&1 | tee "$TRAIN_LOG"
exit_code=${PIPESTATUS[0]}
set -e
if ((exit_code != 0)); then
  if ((exit_code >= 128)); then
    echo "[NODE-$NODE_RANK($HOST)] [ERROR] primus ended by signal $((exit_code - 128))" >&2
  else
    echo "[NODE-$NODE_RANK($HOST)] [ERROR] primus exited with code $exit_code" >&2
  fi
fi
exit "$exit_code"
