#!/usr/bin/env bash
# Checkpoint throughput: save and load GB/s of a ~1 GiB checkpoint (a Llama-shaped model of ~90M
# parameters: fp32 parameters + AdamW's exp_avg and exp_avg_sq = 12 bytes per parameter) written
# by one process and by 4 ranks (data parallel with the distributed optimizer: every rank writes
# its optimizer shard; without it rank 0 writes everything), the time to resume (Trainer start to
# the first iteration, incl. the load), and the cost of a save to the training loop, sync and
# async_save (wall time of a run with three saves minus a run without, per save; async still
# waits for its last save at the end). Prints a markdown table
# (see docs/benchmarks.md). The numbers come from the engine's own log lines ("saved checkpoint
# ... (X MiB in Y s)", "loaded checkpoint ... (X MiB in Y s)") and /usr/bin/time.
#
# usage: tools/bench/checkpoint_bench.sh [--build-dir build] [--hidden 1024] [--layers 2]
#                                        [--vocab 32000] [--ranks 4] [--iters 12] [--dir /tmp]
# --dir: where the checkpoints are written (the filesystem measured). Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build hidden=1024 layers=2 vocab=32000 ranks=4 iters=12 dir=${TMPDIR:-/tmp}
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --hidden) hidden=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "checkpoint_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$iters" -ge 3 ] || { echo "checkpoint_bench: --iters must be at least 3" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "checkpoint_bench: mpirun missing (Debian's openmpi-bin)" >&2; exit 1; }
[ -x "$build/primus" ] || { echo "checkpoint_bench: $build/primus not built (scripts/build.sh)" >&2; exit 1; }

tmp=$(mktemp -d "$dir/primus-ckpt-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log() { echo "checkpoint_bench: $*" >&2; }

exp=$root/examples/megatron/configs/tiny_llama-pretrain.yaml
heads=$((hidden / 64))
common=(--num_layers "$layers" --hidden_size "$hidden" --ffn_hidden_size $((hidden * 11 / 4)) --num_attention_heads "$heads"
        --num_query_groups "$heads" --seq_length 64 --max_position_embeddings 64 --micro_batch_size 1
        --tokenizer_type NullTokenizer --vocab_size "$vocab" --untie_embeddings_and_output_weights=true
        --eval_iters 0 --lr_warmup_iters 0 --log_interval 1 --mock_data=true --bf16=false --disable_tensorboard=true
        --finetune=false --exit_on_missing_checkpoint=true)
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMP_WAIT_POLICY=passive
root_flags=()
if [ "$(id -u)" = 0 ]; then root_flags=(--allow-run-as-root --oversubscribe); fi

# run NAME PROCESSES [overrides...]: trains, leaves the output in $tmp/NAME.out.
run() {
  local name=$1 np=$2
  shift 2
  log "$name: $np process(es)"
  OMP_NUM_THREADS=$(( $(nproc) / np > 0 ? $(nproc) / np : 1 )) mpirun "${root_flags[@]}" -np "$np" --bind-to none \
    /usr/bin/time -f 'wall %e' "$build/primus" train pretrain --config "$exp" "${common[@]}" \
    --global_batch_size "$np" --workspace "$tmp/runs-$name" "$@" >"$tmp/$name.out" 2>&1 ||
    { cat "$tmp/$name.out" >&2; log "$name failed"; exit 1; }
}
# "MiB s" of the first matching save/load line.
mib_s() { grep -oE "$2 .*\(([^()]*; )?[0-9.]+ MiB in [0-9.]+ s\)" "$tmp/$1.out" | head -1 | grep -oE '[0-9.]+ MiB in [0-9.]+' | awk '{ print $1, $4 }'; }
gbps() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.2f", (m * 1048576 / 1e9) / s }'; }
# Wall seconds of a run (/usr/bin/time).
wall_of() { grep -oE '^wall [0-9.]+' "$tmp/$1.out" | head -1 | awk '{ print $2 }'; }

for np in 1 "$ranks"; do
  dist=$([ "$np" -gt 1 ] && echo true || echo false)
  run "save$np" "$np" --train_iters 1 --save "$tmp/ckpt$np" --save_interval 1 --use_distributed_optimizer="$dist"
  run "load$np" "$np" --train_iters 2 --load "$tmp/ckpt$np" --use_distributed_optimizer="$dist"
done
run nosave 1 --train_iters "$iters"
# Three saves (iterations/3 apart, the last one at the end): async_save writes the first two while
# training goes on; the run still waits for the last one.
every=$((iters / 3))
run sync 1 --train_iters "$iters" --save "$tmp/sync" --save_interval "$every" --save_retain_interval 1000000
run async 1 --train_iters "$iters" --save "$tmp/async" --save_interval "$every" --save_retain_interval 1000000 --async_save=true

echo
echo "checkpoint of $(mib_s save1 saved | awk '{ printf "%.0f", $1 }') MiB (hidden $hidden, $layers layers, vocab $vocab, fp32 + AdamW state), $(nproc) cores, $dir ($(df -T "$dir" | awk 'NR == 2 { print $2 }')), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| processes | save GB/s | load GB/s | resume (process start to iteration 1 done) |"
echo "|---:|---:|---:|---:|"
for np in 1 "$ranks"; do
  read -r sm ss < <(mib_s "save$np" saved)
  read -r lm ls < <(mib_s "load$np" loaded)
  echo "| $np | $(gbps "$sm" "$ss") | $(gbps "$lm" "$ls") | $(wall_of "load$np") s |"
done
echo
echo "| $iters iterations, 3 saves | wall (s) | cost per save (ms) |"
echo "|---|---:|---:|"
base=$(wall_of nosave)
for mode in nosave sync async; do
  w=$(wall_of "$mode")
  echo "| $mode | $w | $(awk -v a="$w" -v b="$base" 'BEGIN { printf "%.0f", (a - b) * 1000 / 3 }') |"
done
