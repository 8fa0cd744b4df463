#!/usr/bin/env bash
# Expert parallelism on one machine: tiny_mixtral (mock data, fp32) on P processes × 1 thread, as
# EP 1 (data parallel only: every rank holds every expert) and EP P with the alltoall and the
# allgather token dispatchers; prints a markdown table (see docs/benchmarks.md).
#
# Columns: step time = global tokens ÷ tokens/s (the engine's training summary: the median over the
# measured iterations); dispatch MiB = hidden states the forward dispatch sent to other ranks per
# rank per step, as measured by the exchanges (the engine's "expert-parallel dispatch" line);
# formula = micro-batches × tokens per micro-batch × topk × (EP−1)/EP × hidden × 4 B × MoE layers
# for alltoall (equal on average for balanced routing without dropping), × (EP−1) × hidden × 4 B
# per token for allgather; all exchanges = dispatch + combine + their backward + counts.
#
# usage: tools/bench/expert_parallel_bench.sh [--build-dir build] [--processes 2] [--iters 10]
#                                             [--seq 256] [--global-batch 16] [--micro-batch 4]
#                                             [--experts 8] [--topk 2]
# Builds the engine first when needed. Run it on a quiet machine (check `uptime`): the processes
# are bound one per core.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build np=2 iters=10 seq=256 gbs=16 mbs=4 experts=8 topk=2
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --processes) np=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --global-batch) gbs=$2; shift 2 ;;
    --micro-batch) mbs=$2; shift 2 ;;
    --experts) experts=$2; shift 2 ;;
    --topk) topk=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "expert_parallel_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$np" -ge 2 ] || { echo "expert_parallel_bench: --processes must be at least 2" >&2; exit 2; }
[ $((experts % np)) -eq 0 ] || { echo "expert_parallel_bench: --experts $experts must divide by --processes $np" >&2; exit 2; }
[ $((gbs % (mbs * np))) -eq 0 ] ||
  { echo "expert_parallel_bench: --global-batch $gbs must divide by --micro-batch × --processes = $((mbs * np))" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "expert_parallel_bench: mpirun missing (Debian's openmpi-bin)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-ep-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "expert_parallel_bench: $*" >&2; }

if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

exp=$root/examples/megatron/configs/tiny_mixtral-pretrain.yaml
common=(--train_iters "$iters" --seq_length "$seq" --global_batch_size "$gbs" --micro_batch_size "$mbs"
        --num_experts "$experts" --moe_router_topk "$topk" --eval_iters 0 --lr_warmup_iters 1
        --log_interval "$iters" --log_avg_skip_iterations 1 --mock_data=true --bf16=false
        --disable_tensorboard=true --use_distributed_optimizer=true)
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
root_flags=()
if [ "$(id -u)" = 0 ]; then root_flags=(--allow-run-as-root); fi
# More processes than cores (a check on a small machine): no binding.
bind=(--map-by "ppr:$np:node:PE=1" --bind-to core)
if [ "$np" -gt "$(nproc)" ]; then bind=(--oversubscribe --bind-to none); fi

# run NAME [overrides...]: trains on $np processes, leaves the output in $tmp/NAME.out.
run() {
  local name=$1
  shift
  log "$name: $np processes × 1 thread, $iters iterations"
  OMP_NUM_THREADS=1 mpirun "${root_flags[@]}" -np "$np" "${bind[@]}" \
    "$build/primus" train pretrain --config "$exp" "${common[@]}" --workspace "$tmp/runs-$name" "$@" \
    >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out" >&2; log "$name failed"; exit 1; }
}

# Step time (ms) from the training summary's tokens/s per device.
step_ms() {
  local per_device
  per_device=$(grep -o 'training summary .*' "$tmp/$1.out" | grep -oE 'tokens/s/device\): [0-9.]+' | grep -oE '[0-9.]+$')
  awk -v t="$per_device" -v n="$np" -v tok="$((gbs * seq))" 'BEGIN { printf "%.1f", tok / (t * n) * 1000 }'
}
# field N (1: measured, 2: formula, 3: ratio, 4: all exchanges) of the dispatch line, or "-".
dispatch() {
  local line
  line=$(grep -o 'expert-parallel dispatch per rank per step: .*' "$tmp/$1.out" | head -1 || true)
  [ -n "$line" ] || { echo "-"; return; }
  echo "$line" | grep -oE '[0-9]+\.[0-9]+' | sed -n "$2p"
}

run ep1 --expert_model_parallel_size 1
run ep_alltoall --expert_model_parallel_size "$np" --moe_token_dispatcher_type alltoall
run ep_allgather --expert_model_parallel_size "$np" --moe_token_dispatcher_type allgather

echo
echo "tiny_mixtral ($experts experts, top-$topk), seq $seq, global batch $gbs (micro-batch $mbs), $iters iterations, fp32," \
     "$np processes × 1 thread, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| layout | step time (ms) | dispatch MiB/rank/step (measured) | formula | measured ÷ formula | all exchanges MiB/rank/step |"
echo "|---|---:|---:|---:|---:|---:|"
row() { echo "| $2 | $(step_ms "$1") | $(dispatch "$1" 1) | $(dispatch "$1" 2) | $(dispatch "$1" 3) | $(dispatch "$1" 4) |"; }
row ep1 "EP 1 × DP $np (every rank holds every expert)"
row ep_alltoall "EP $np, alltoall dispatcher"
row ep_allgather "EP $np, allgather dispatcher"
