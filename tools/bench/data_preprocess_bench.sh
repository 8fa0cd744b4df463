#!/usr/bin/env bash
# Throughput of `primus data preprocess` (MB/s of JSONL: wall-clock total and per worker, and per
# CPU-second, which stays meaningful on a shared machine) for each tokenizer
# fetched by scripts/fetch_assets.sh, on the Brown corpus repeated to SIZE_MB, for 1..N workers.
#
# usage: tools/bench/data_preprocess_bench.sh [BUILD_DIR=build] [SIZE_MB=24] [MAX_WORKERS=nproc]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
size_mb=${2:-24}
max_workers=${3:-$(nproc)}
bin=$build/primus
corpus=assets/data/brown.jsonl
[ -x "$bin" ] || { echo "bench: $bin not built (scripts/build.sh)" >&2; exit 1; }
[ -f "$corpus" ] || { echo "bench: $corpus missing (scripts/fetch_assets.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
while [ "$(stat -c %s "$work/in.jsonl" 2>/dev/null || echo 0)" -lt $((size_mb * 1000000)) ]; do
  cat "$corpus" >> "$work/in.jsonl"
done
echo "bench: $(($(stat -c %s "$work/in.jsonl") / 1000000)) MB of JSONL ($(wc -l < "$work/in.jsonl") documents), $(nproc) cores"
export HF_HOME=$PWD/assets/hf_home
for spec in MixtralTokenizer:mistralai/Mixtral-8x7B-v0.1 Llama3Tokenizer:meta-llama/Llama-3.1-8B \
            DeepSeekV3Tokenizer:deepseek-ai/DeepSeek-V3; do
  type=${spec%%:*} model=${spec#*:}
  w=1
  while [ "$w" -le "$max_workers" ]; do
    # CPU seconds (user + sys) give MB/s per core even on a busy machine; wall time gives MB/s.
    TIMEFORMAT='%U %S'
    { time "$bin" data preprocess --input "$work/in.jsonl" --output-prefix "$work/out" \
        --tokenizer-type "$type" --tokenizer-model "$model" --append-eod --workers "$w" \
        > "$work/line" ; } 2> "$work/cpu"
    read -r user sys < "$work/cpu"
    line=$(tail -1 "$work/line")
    mb=$(awk -v s="$(stat -c %s "$work/in.jsonl")" 'BEGIN { print s / 1e6 }')
    per_core=$(awk -v mb="$mb" -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", mb / (u + s) }')
    echo "$model workers=$w: ${line#preprocess: } | ${per_core} MB per CPU-second"
    w=$((w * 2))
  done
done
