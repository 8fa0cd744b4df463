#!/usr/bin/env bash
# Tensor, sequence and context parallelism on one machine: tiny_llama (mock data, seq 512, global
# batch 8) trained as 1 process × T threads against T processes × 1 thread split by data (DP=T),
# tensor (TP=T), tensor + sequence (TP=T, SP) and context parallelism (CP=T); then a memory check:
# tiny_llama at seq 8192 (micro-batch 1) with CP=1 on one process and CP=T on T processes.
# Prints markdown tables (see docs/benchmarks.md).
#
# Columns: tokens/s = global tokens per second, the median over the measured iterations (the
# engine's closing "training summary" line: tokens/s per device × processes); ratio = tokens/s ÷
# the one-process row (the processes split the same cores: what the layout costs in communication
# and duplicated work; the DP row is the cheapest split, its gap to TP/CP rows is their
# communication); peak RSS of each rank (/usr/bin/time -v); model arena per rank = parameters,
# gradients, activations and scratch (the engine's "memory per rank" line). In the memory check,
# activations per rank = arena − 8 bytes × parameters (fp32 weights and gradients), which CP=T
# divides by about T.
#
# usage: tools/bench/parallel_bench.sh [--build-dir build] [--threads 2] [--iters 10] [--seq 512]
#                                      [--global-batch 8] [--micro-batch 4] [--memory-seq 8192]
#                                      [--memory-iters 2] [--skip-memory]
# Builds the engine first when needed. Run it on a quiet machine (check `uptime`): the processes
# are bound one per core.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build threads=2 iters=10 seq=512 gbs=8 mbs=4 mem_seq=8192 mem_iters=2 memory=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --global-batch) gbs=$2; shift 2 ;;
    --micro-batch) mbs=$2; shift 2 ;;
    --memory-seq) mem_seq=$2; shift 2 ;;
    --memory-iters) mem_iters=$2; shift 2 ;;
    --skip-memory) memory=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "parallel_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$threads" -ge 2 ] || { echo "parallel_bench: --threads must be at least 2" >&2; exit 2; }
# tiny_llama-pretrain.yaml leaves the first 2 iterations (log_avg_skip_iterations) out of the median.
[ "$iters" -ge 3 ] || { echo "parallel_bench: --iters must be at least 3 (the first 2 are not measured)" >&2; exit 2; }
[ "$mem_iters" -ge 1 ] || { echo "parallel_bench: --memory-iters must be at least 1" >&2; exit 2; }
[ $((gbs % (mbs * threads))) -eq 0 ] ||
  { echo "parallel_bench: --global-batch $gbs must divide by --micro-batch × --threads = $((mbs * threads))" >&2; exit 2; }
[ $((seq % (2 * threads))) -eq 0 ] && [ $((mem_seq % (2 * threads))) -eq 0 ] ||
  { echo "parallel_bench: --seq and --memory-seq must divide by 2 × --threads (context parallelism's chunks)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "parallel_bench: /usr/bin/time missing (Debian's time)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "parallel_bench: mpirun missing (Debian's openmpi-bin)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-parallel-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "parallel_bench: $*" >&2; }

if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

exp=$root/examples/megatron/configs/tiny_llama-pretrain.yaml
common=(--eval_iters 0 --lr_warmup_iters 1 --mock_data=true --bf16=false --disable_tensorboard=true
        --use_distributed_optimizer=false)
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
root_flags=()
if [ "$(id -u)" = 0 ]; then root_flags=(--allow-run-as-root); fi

# run NAME PROCESSES THREADS [overrides...]: trains, leaves the output in $tmp/NAME.out.
run() {
  local name=$1 np=$2 nt=$3
  shift 3
  log "$name: $np process(es) × $nt thread(s)"
  OMP_NUM_THREADS=$nt mpirun "${root_flags[@]}" -np "$np" --map-by "ppr:$np:node:PE=$nt" --bind-to core \
    /usr/bin/time -v "$build/primus" train pretrain --config "$exp" "${common[@]}" \
    --workspace "$tmp/runs-$name" "$@" >"$tmp/$name.out" 2>&1 ||
    { cat "$tmp/$name.out" >&2; log "$name failed"; exit 1; }
}

tokens_per_second() {
  local per_device np=$2
  per_device=$(grep -o 'training summary .*' "$tmp/$1.out" | grep -oE 'tokens/s/device\): [0-9.]+' | grep -oE '[0-9.]+$')
  awk -v t="$per_device" -v n="$np" 'BEGIN { printf "%.1f", t * n }'
}
rss_per_rank() {
  grep 'Maximum resident set size' "$tmp/$1.out" | grep -oE '[0-9]+$' |
    awk '{ printf "%s%.2f", (NR > 1 ? " / " : ""), $1 / 1048576 }'
}
arena() { grep -oE 'model arena [0-9.]+ GiB' "$tmp/$1.out" | head -1 | grep -oE '[0-9.]+'; }
parameters() {  # parameters per rank, from the start-up line "... of N parameters"
  grep -oE 'for [0-9]+ of [0-9]+ parameters' "$tmp/$1.out" | head -1 | grep -oE '[0-9]+ parameters' | grep -oE '[0-9]+'
}

n=$threads
speed=(--train_iters "$iters" --seq_length "$seq" --global_batch_size "$gbs" --micro_batch_size "$mbs"
       --log_interval "$iters")
run one 1 "$threads" "${speed[@]}"
run dp "$n" 1 "${speed[@]}"
run tp "$n" 1 "${speed[@]}" --tensor_model_parallel_size "$n" --sequence_parallel=false
run tp_sp "$n" 1 "${speed[@]}" --tensor_model_parallel_size "$n" --sequence_parallel=true
run cp "$n" 1 "${speed[@]}" --context_parallel_size "$n"

base=$(tokens_per_second one 1)
echo
echo "tiny_llama, seq $seq, global batch $gbs (micro-batch $mbs), $iters iterations, fp32, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| layout | tokens/s | ratio | peak RSS per rank (GiB) | model arena per rank (GiB) |"
echo "|---|---:|---:|---:|---:|"
row() {
  local name=$1 np=$2 label=$3 tps
  tps=$(tokens_per_second "$name" "$np")
  echo "| $label | $tps | $(awk -v a="$tps" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }') | $(rss_per_rank "$name") | $(arena "$name") |"
}
row one 1 "1 process × $threads threads"
row dp "$n" "$n processes × 1 thread, DP=$n"
row tp "$n" "$n × 1, TP=$n"
row tp_sp "$n" "$n × 1, TP=$n, sequence parallel"
row cp "$n" "$n × 1, CP=$n (p2p ring)"

[ "$memory" = 1 ] || exit 0
mem=(--train_iters "$mem_iters" --seq_length "$mem_seq" --max_position_embeddings "$mem_seq" --global_batch_size 1
     --micro_batch_size 1 --log_interval "$mem_iters" --lr_warmup_iters 0)
run mem_cp1 1 "$threads" "${mem[@]}"
run mem_cp "$n" 1 "${mem[@]}" --context_parallel_size "$n"
echo
echo "Memory check: tiny_llama, seq $mem_seq, micro-batch 1, $mem_iters iterations"
echo
echo "| layout | peak RSS per rank (GiB) | model arena per rank (GiB) | activations + scratch per rank (GiB) |"
echo "|---|---:|---:|---:|"
mem_row() {
  local name=$1 label=$2 a p
  a=$(arena "$name")
  p=$(parameters "$name")
  echo "| $label | $(rss_per_rank "$name") | $a | $(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.3f", a - 8 * p / 1073741824 }') |"
}
mem_row mem_cp1 "CP=1, 1 process × $threads threads"
mem_row mem_cp "CP=$n, $n processes × 1 thread"
