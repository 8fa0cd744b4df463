#!/usr/bin/env bash
# Data-parallel scaling on one machine: tiny_llama (mock data, seq 512, global batch 16) trained as
# 1 process × T threads against T processes × 1 thread (DP = T over MPI), with and without the
# distributed optimizer and with and without overlapping the gradient reduction; prints a markdown
# table (see docs/benchmarks.md).
#
# Columns: tokens/s = global tokens per second, the median over the measured iterations (the
# engine's closing "training summary" line: tokens/s per device × processes; the first
# log_avg_skip_iterations are not measured); ratio = tokens/s ÷ the one-process row (target ≥ 0.9:
# the processes split the same cores, so the ratio is what data parallelism costs in
# communication and duplicated work); peak RSS of each rank (/usr/bin/time -v); optimizer state
# per rank (the engine's "memory per rank" line).
#
# usage: tools/bench/dp_bench.sh [--build-dir build] [--threads 2] [--iters 10] [--seq 512]
#                                [--global-batch 16] [--micro-batch 4]
# Builds the engine first when needed. Run it on a quiet machine (check `uptime`): the processes
# are bound one per core.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build threads=2 iters=10 seq=512 gbs=16 mbs=4
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --global-batch) gbs=$2; shift 2 ;;
    --micro-batch) mbs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "dp_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$threads" -ge 2 ] || { echo "dp_bench: --threads must be at least 2" >&2; exit 2; }
[ $((gbs % (mbs * threads))) -eq 0 ] ||
  { echo "dp_bench: --global-batch $gbs must divide by --micro-batch × --threads = $((mbs * threads))" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "dp_bench: /usr/bin/time missing (Debian's time)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "dp_bench: mpirun missing (Debian's openmpi-bin)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-dp-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "dp_bench: $*" >&2; }

if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

exp=$root/examples/megatron/configs/tiny_llama-pretrain.yaml
common=(--train_iters "$iters" --seq_length "$seq" --global_batch_size "$gbs" --micro_batch_size "$mbs"
        --eval_iters 0 --lr_warmup_iters 1 --log_interval "$iters" --mock_data=true --bf16=false --disable_tensorboard=true)
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
root_flags=()
if [ "$(id -u)" = 0 ]; then root_flags=(--allow-run-as-root); fi

# run NAME PROCESSES THREADS [overrides...]: trains, leaves the output in $tmp/NAME.out.
run() {
  local name=$1 np=$2 nt=$3
  shift 3
  log "$name: $np process(es) × $nt thread(s), $iters iterations"
  OMP_NUM_THREADS=$nt mpirun "${root_flags[@]}" -np "$np" --map-by "ppr:$np:node:PE=$nt" --bind-to core \
    /usr/bin/time -v "$build/primus" train pretrain --config "$exp" "${common[@]}" \
    --workspace "$tmp/runs-$name" "$@" >"$tmp/$name.out" 2>&1 ||
    { cat "$tmp/$name.out" >&2; log "$name failed"; exit 1; }
}

# tokens/s of the run (global), from the training summary.
tokens_per_second() {
  local per_device np=$2
  per_device=$(grep -o 'training summary .*' "$tmp/$1.out" | grep -oE 'tokens/s/device\): [0-9.]+' | grep -oE '[0-9.]+$')
  awk -v t="$per_device" -v n="$np" 'BEGIN { printf "%.1f", t * n }'
}
rss_per_rank() {
  grep 'Maximum resident set size' "$tmp/$1.out" | grep -oE '[0-9]+$' |
    awk '{ printf "%s%.2f", (NR > 1 ? " / " : ""), $1 / 1048576 }'
}
optimizer_state() {
  grep -oE 'optimizer state [0-9.]+ GiB' "$tmp/$1.out" | head -1 | grep -oE '[0-9.]+ GiB'
}

run one 1 "$threads" --use_distributed_optimizer=false
n=$threads
run dp "$n" 1 --use_distributed_optimizer=false
run dp_overlap "$n" 1 --use_distributed_optimizer=false --overlap_grad_reduce=true
run distopt "$n" 1 --use_distributed_optimizer=true
run distopt_overlap "$n" 1 --use_distributed_optimizer=true --overlap_grad_reduce=true --overlap_param_gather=true

base=$(tokens_per_second one 1)
echo
echo "tiny_llama, seq $seq, global batch $gbs (micro-batch $mbs), $iters iterations, fp32, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| layout | tokens/s | ratio | peak RSS per rank (GiB) | optimizer state per rank |"
echo "|---|---:|---:|---:|---:|"
row() {
  local name=$1 np=$2 label=$3 tps
  tps=$(tokens_per_second "$name" "$np")
  echo "| $label | $tps | $(awk -v a="$tps" -v b="$base" 'BEGIN { printf "%.2f", a / b }') | $(rss_per_rank "$name") | $(optimizer_state "$name") |"
}
row one 1 "1 process × $threads threads"
row dp "$n" "$n processes × 1 thread, DP=$n, all-reduce"
row dp_overlap "$n" "$n × 1, DP=$n, all-reduce, overlap_grad_reduce"
row distopt "$n" "$n × 1, DP=$n, distributed optimizer"
row distopt_overlap "$n" "$n × 1, DP=$n, distributed optimizer, overlap_grad_reduce + overlap_param_gather"
