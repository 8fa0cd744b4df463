#!/usr/bin/env bash
# Throughput of `primus data preprocess` (MB/s of JSONL, total and per worker) for each tokenizer
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
    line=$("$bin" data preprocess --input "$work/in.jsonl" --output-prefix "$work/out" \
             --tokenizer-type "$type" --tokenizer-model "$model" --append-eod --workers "$w" | tail -1)
    echo "$model workers=$w: ${line#preprocess: }"
    w=$((w * 2))
  done
done
