#!/usr/bin/env bash
# Pipeline bubble: tiny_llama (mock data) trained with pipeline parallelism over P processes × 1
# thread, 1F1B and interleaved 1F1B (V model chunks per rank), for a few micro-batch counts m;
# prints a markdown table of each stage's measured idle fraction (the engine's closing "pipeline
# bubble" line: time spent waiting for a neighbour's activations or gradients ÷ the schedule's
# time, over the measured iterations) next to the schedule's (P−1)/(V·m+P−1), and tokens/s.
#
# usage: tools/bench/pipeline_bench.sh [--build-dir build] [--pp 2] [--virtual 2] [--iters 8]
#                                      [--seq 256] [--layers 8] [--micro-batches "2 4 8"]
# Builds the engine first when needed. Run it on a quiet machine (check `uptime`) with at least
# --pp cores: the processes are bound one per core.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build pp=2 vpp=2 iters=8 seq=256 layers=8 mbs_list="2 4 8"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --pp) pp=$2; shift 2 ;;
    --virtual) vpp=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --micro-batches) mbs_list=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pipeline_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$pp" -ge 2 ] || { echo "pipeline_bench: --pp must be at least 2" >&2; exit 2; }
[ $((layers % (pp * vpp))) -eq 0 ] ||
  { echo "pipeline_bench: --layers $layers must divide by --pp × --virtual = $((pp * vpp))" >&2; exit 2; }
[ "$iters" -ge 3 ] || { echo "pipeline_bench: --iters must be at least 3 (2 are not measured)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "pipeline_bench: mpirun missing (Debian's openmpi-bin)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-pipeline-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "pipeline_bench: $*" >&2; }

if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

exp=$root/examples/megatron/configs/tiny_llama-pretrain.yaml
common=(--train_iters "$iters" --seq_length "$seq" --micro_batch_size 1 --num_layers "$layers"
        --pipeline_model_parallel_size "$pp" --eval_iters 0 --lr_warmup_iters 1 --log_interval "$iters"
        --log_avg_skip_iterations 2 --mock_data=true --bf16=false --disable_tensorboard=true)
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
root_flags=()
if [ "$(id -u)" = 0 ]; then root_flags=(--allow-run-as-root); fi
bind=(--map-by "ppr:$pp:node:PE=1" --bind-to core)
[ "$(nproc)" -ge "$pp" ] || { log "fewer cores than --pp: not binding (numbers are not meaningful)"; bind=(--oversubscribe --bind-to none); }

# run NAME M [overrides...]: trains with m = M micro-batches, leaves the output in $tmp/NAME.out.
run() {
  local name=$1 m=$2
  shift 2
  log "$name: pp $pp, m $m, $iters iterations"
  OMP_NUM_THREADS=1 mpirun "${root_flags[@]}" -np "$pp" "${bind[@]}" \
    "$build/primus" train pretrain --config "$exp" "${common[@]}" --global_batch_size "$m" \
    --workspace "$tmp/runs-$name" "$@" >"$tmp/$name.out" 2>&1 ||
    { cat "$tmp/$name.out" >&2; log "$name failed"; exit 1; }
}
bubble_line() { grep -o 'pipeline bubble: .*' "$tmp/$1.out" | tail -1; }
measured() { bubble_line "$1" | sed -E 's/.*per stage ([0-9. ]+);.*/\1/; s/ +$//; s/ / \/ /g'; }
theory() { bubble_line "$1" | grep -oE '= [0-9.]+' | grep -oE '[0-9.]+'; }
mean_idle() { measured "$1" | tr -d '/' | awk '{ s = 0; for (i = 1; i <= NF; ++i) s += $i; printf "%.3f", s / NF }'; }
tokens_per_second() {
  local per_device
  per_device=$(grep -o 'training summary .*' "$tmp/$1.out" | grep -oE 'tokens/s/device\): [0-9.]+' | grep -oE '[0-9.]+$')
  awk -v t="$per_device" -v n="$pp" 'BEGIN { printf "%.1f", t * n }'
}

rows=()
for m in $mbs_list; do
  run "1f1b_m$m" "$m"
  rows+=("1F1B|1|$m|1f1b_m$m")
  if [ "$vpp" -gt 1 ] && [ "$m" -ge "$pp" ]; then
    run "interleaved_m$m" "$m" --num_virtual_stages_per_pipeline_rank "$vpp"
    rows+=("interleaved|$vpp|$m|interleaved_m$m")
  fi
done

echo
echo "tiny_llama, $layers layers, seq $seq, micro-batch 1, pp $pp, $iters iterations ($((iters - 2)) measured), fp32, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| schedule | V | m | measured idle per stage | mean | (P−1)/(V·m+P−1) | tokens/s |"
echo "|---|---:|---:|---|---:|---:|---:|"
for r in "${rows[@]}"; do
  IFS='|' read -r label v m name <<<"$r"
  echo "| $label | $v | $m | $(measured "$name") | $(mean_idle "$name") | $(theory "$name") | $(tokens_per_second "$name") |"
done
