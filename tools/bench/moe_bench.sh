#!/usr/bin/env bash
# Training throughput of the tiny MoE presets in our engine and in PyTorch, on the same machine,
# in the same run, on the same number of threads, each next to its dense twin; prints a markdown
# table (see docs/benchmarks.md, "MoE benchmark").
#
# Models: tiny_mixtral (4 layers, hidden 256, GQA 8 heads / 4 groups, every MLP a 4-expert top-2
# softmax MoE of width 512 with aux loss) and tiny_deepseek (DeepSeek-V2-Lite shape: 4 layers,
# hidden 256, MLA without q-LoRA with YaRN, 4 heads, first layer dense ffn 704, then 8 experts
# top-2 of width 256 with pre-softmax scores, 2 shared experts = 512, seq aux loss), as the
# engine resolves them (`primus config show`), vocab 32000, seq 256, micro-batch 8 = global
# batch 8 (2048 tokens per step).
# Dense twin of each: the same model with num_experts null and ffn_hidden_size chosen so that
# Megatron's FLOPs formula gives the same FLOPs per token (same attention, same vocabulary):
# ffn = (ffn · dense layers + (topk · moe_ffn + shared) · MoE layers) / layers, i.e. 1024 for
# tiny_mixtral (2 × 512) and (704 + 3 × (2 × 256 + 512)) / 4 = 944 for tiny_deepseek.
#
# Rows per model: ours on the MoE model and on its twin (`primus train pretrain` on mock data,
# NullTokenizer, fp32); PyTorch on both, tuned as well as this machine allows (jemalloc, OpenBLAS
# with OPENBLAS_CORETYPE=SkylakeX): tools/bench/torch_moe_bench.py, a fast plain-PyTorch model
# checked first against tools/reference/model/decoder_reference.py (float64, every gradient).
# One step on both sides: zero_grad, forward, masked-mean cross-entropy + aux losses, backward,
# global-norm clipping at 1.0, AdamW.
# Columns: tokens/s = batch tokens / median step time over the measured steps (after warm-up);
# model TFLOP/s from Megatron's FLOPs formula with the active experts (src/train/flops.cpp; the
# table cross-checks it with the FLOPs the engine logs); the MoE model's model TFLOP/s as a
# fraction of its dense twin's (same implementation); peak RSS (ours: /usr/bin/time -v;
# PyTorch: getrusage); ours ÷ PyTorch tuned, same model.
#
# usage: tools/bench/moe_bench.sh [--build-dir build] [--threads 2] [--steps 13] [--warmup 3]
#                                 [--seq 256] [--batch 8] [--vocab 32000]
#                                 [--models "mixtral deepseek"] [--no-torch-dense]
#   --steps counts every step, the --warmup first ones included (they are not measured).
#   --vocab is the padded vocabulary (a multiple of 128); --no-torch-dense skips PyTorch's twins.
# Builds the engine first when needed (scripts/build.sh). Needs /usr/bin/python3 with torch and
# /usr/bin/time; takes about 3-5 minutes on an idle 2-core machine (much longer on a loaded one:
# check `uptime` first).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build threads=2 steps=13 warmup=3 seq=256 batch=8 vocab=32000 models="mixtral deepseek"
torch_dense=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --no-torch-dense) torch_dense=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "moe_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in threads steps warmup seq batch vocab; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "moe_bench: --$v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
[ "$steps" -gt "$warmup" ] || { echo "moe_bench: --steps must exceed --warmup" >&2; exit 2; }
[ $((vocab % 128)) -eq 0 ] ||
  { echo "moe_bench: --vocab $vocab is not a multiple of 128 (make_vocab_size_divisible_by): the engine would pad it" >&2; exit 2; }
for m in $models; do
  case $m in mixtral|deepseek) ;; *) echo "moe_bench: --models: unknown model '$m' (mixtral, deepseek)" >&2; exit 2 ;; esac
done

py=/usr/bin/python3
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null ||
  { echo "moe_bench: $py cannot import torch (Debian's python3-torch)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "moe_bench: /usr/bin/time missing (Debian's time)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-moe-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "moe_bench: $*" >&2; }

# --- the engine -------------------------------------------------------------------------------
if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

# --- OpenBLAS for the tuned PyTorch (as tools/bench/train_bench.sh) ---------------------------
# Debian's torch calls whatever libblas.so.3 the alternatives system selects; the netlib
# reference BLAS (the fallback) is some 20x slower than OpenBLAS. When OpenBLAS is not the
# system's choice, use an installed copy, or unpack Debian's package (from the apt cache or
# `apt-get download`) into a cache folder and put it first on LD_LIBRARY_PATH for PyTorch only.
openblas_dir="" blas_note=""
find_openblas() {
  local lib
  lib=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
  case $lib in *openblas*) blas_note="system OpenBLAS ($lib)"; return 0 ;; esac
  for lib in /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
             /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3; do
    [ -f "$lib" ] && { openblas_dir=$(dirname "$lib"); blas_note="OpenBLAS from $openblas_dir"; return 0; }
  done
  local cache=${XDG_CACHE_HOME:-$HOME/.cache}/primus-bench/openblas
  local dir=$cache/usr/lib/x86_64-linux-gnu/openblas-pthread
  if [ ! -f "$dir/libblas.so.3" ]; then
    local deb
    deb=$(ls /var/cache/apt/archives/libopenblas0-pthread_*_amd64.deb 2>/dev/null | tail -1 || true)
    if [ -z "$deb" ]; then
      (cd "$tmp" && apt-get download libopenblas0-pthread >/dev/null 2>&1) || true
      deb=$(ls "$tmp"/libopenblas0-pthread_*_amd64.deb 2>/dev/null | tail -1 || true)
    fi
    [ -n "$deb" ] && mkdir -p "$cache" && dpkg-deb -x "$deb" "$cache"
  fi
  [ -f "$dir/libblas.so.3" ] && { openblas_dir=$dir; blas_note="Debian's OpenBLAS (pthread) unpacked in $cache"; return 0; }
  blas_note="NO OpenBLAS found: PyTorch fp32 ran on the reference BLAS"
  return 1
}
find_openblas || log "warning: $blas_note"
[ -f "$jemalloc" ] || log "warning: $jemalloc missing (Debian's libjemalloc2): PyTorch runs with glibc malloc"

# --- measurements -----------------------------------------------------------------------------
results=$tmp/results.tsv  # run, tokens/s, peak RSS bytes, measured steps, engine GFLOP/token and its rounding
: > "$results"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
# The data, batch and vocabulary of every run; the model comes from the experiment file.
common=(--tokenizer-type NullTokenizer --vocab-size $((vocab - 1)) --mock-data
        --seq-length "$seq" --micro-batch-size "$batch" --global-batch-size "$batch")

ours() {  # run name, experiment, extra overrides...
  local name=$1 experiment=$2 out=$tmp/$1.log; shift 2
  log "$name: $steps iterations"
  OMP_NUM_THREADS=$threads /usr/bin/time -v -o "$tmp/$name.time" \
    "$build/primus" train pretrain --config "$experiment" "${common[@]}" \
    --train-iters "$steps" --lr-warmup-iters 1 --eval-iters 0 --log-interval 1 \
    --log-avg-skip-iterations "$warmup" --workspace "$tmp/workspace" "$@" >"$out" 2>&1 ||
    { tail -20 "$out" >&2; log "$name failed"; exit 1; }
  local ms rss n gflop
  ms=$(sed -n 's/.* iteration *\([0-9]*\)\/.*elapsed time per iteration (ms): \([0-9.]*\)\/.*/\1 \2/p' "$out" |
       awk -v w="$warmup" '$1 > w {print $2}')
  n=$(echo "$ms" | wc -l)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2 * 1024}' "$tmp/$name.time")
  grep -h "training summary" "$out" | sed 's/^.*training summary/  summary/' >&2
  # FLOPs per token as the engine counts them (summary: TFLOP/s over tokens/s, both medians).
  # The TFLOP/s is printed with 3 decimals: its rounding bounds how closely that can agree.
  gflop=$(sed -n 's/.*training summary.*(tokens\/s\/device): \([0-9.]*\) .*(TFLOP\/s\/device): \([0-9.]*\) .*/\1 \2/p' "$out" |
          awk '$1 > 0 && $2 > 0 {printf "%.6f\t%.6f", $2 * 1000 / $1, 0.0005 / $2}')
  echo -e "$name\t$(echo "$ms" | median | awk -v t=$((batch * seq)) '{printf "%.2f", t / ($1 / 1000)}')\t$rss\t$n\t${gflop:-nan\tnan}" >> "$results"
}

torch_run() {  # run name, resolved configuration, extra arguments
  local name=$1 config=$2; shift 2
  local -a envs=(OMP_NUM_THREADS="$threads" OPENBLAS_CORETYPE=SkylakeX)
  [ -n "$openblas_dir" ] && envs+=(LD_LIBRARY_PATH="$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  [ -f "$jemalloc" ] && envs+=(LD_PRELOAD="$jemalloc")
  log "$name: $steps steps"
  env "${envs[@]}" "$py" tools/bench/torch_moe_bench.py --config "$config" --vocab "$vocab" \
    --seq "$seq" --batch "$batch" --steps "$steps" --warmup "$warmup" --threads "$threads" "$@" \
    > "$tmp/$name.json"
  "$py" -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("%s\t%.2f\t%d\t%d\tnan\tnan" % (sys.argv[2], r["tokens_per_second"], r["peak_rss_bytes"], r["measured"]))' \
    "$tmp/$name.json" "$name" >> "$results"
}

log "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(uptime | sed 's/.*load/load/')"
log "PyTorch models check against the fidelity reference"
OMP_NUM_THREADS=1 "$py" tools/bench/torch_moe_bench.py --check --threads 1
load_before=$(uptime | sed 's/.*load average: //')

for m in $models; do
  experiment=examples/megatron/configs/tiny_$m-pretrain.yaml
  "$build/primus" config show --config "$experiment" "${common[@]}" > "$tmp/$m.yaml" 2>"$tmp/$m.show.log" ||
    { cat "$tmp/$m.show.log" >&2; exit 1; }
  "$py" tools/bench/torch_moe_bench.py --describe --config "$tmp/$m.yaml" --vocab "$vocab" \
    --seq "$seq" > "$tmp/$m.describe.json"
  # The dense twin's width: equal MLP FLOPs per token under Megatron's formula.
  twin=$("$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["dense_twin_ffn"])' "$tmp/$m.describe.json")
  "$build/primus" config show --config "$experiment" "${common[@]}" --num-experts null \
    --ffn-hidden-size "$twin" > "$tmp/$m-dense.yaml" 2>"$tmp/$m-dense.show.log" ||
    { cat "$tmp/$m-dense.show.log" >&2; exit 1; }
  "$py" tools/bench/torch_moe_bench.py --describe --config "$tmp/$m-dense.yaml" --vocab "$vocab" \
    --seq "$seq" > "$tmp/$m-dense.describe.json"
  log "tiny_$m: $(cat "$tmp/$m.describe.json")"
  log "tiny_$m dense twin: ffn $twin: $(cat "$tmp/$m-dense.describe.json")"

  ours "ours-$m" "$experiment"
  ours "ours-$m-dense" "$experiment" --num-experts null --ffn-hidden-size "$twin"
  torch_run "torch-$m" "$tmp/$m.yaml"
  if [ "$torch_dense" = 1 ]; then torch_run "torch-$m-dense" "$tmp/$m-dense.yaml"; fi
done
load_after=$(uptime | sed 's/.*load average: //')

# --- the table --------------------------------------------------------------------------------
"$py" - "$results" "$tmp" "$threads" "$warmup" "$seq" "$batch" "$blas_note" "$load_before" \
  "$load_after" "$models" <<'EOF_PY'
import json, math, os, sys
results, tmp, threads, warmup, seq, batch, blas_note, load_before, load_after, models = sys.argv[1:]
rows = {}
for line in open(results):
    name, tps, rss, n, engine_gflop, rounding = line.rstrip("\n").split("\t")
    rows[name] = (float(tps), int(float(rss)), int(n), float(engine_gflop), float(rounding))
desc = {}
for m in models.split():
    for suffix in ("", "-dense"):
        desc[m + suffix] = json.load(open(os.path.join(tmp, f"{m}{suffix}.describe.json")))

def gflops(run, model):
    return rows[run][0] * desc[model]["flops_per_token"] * 1e-9

print(f"| run ({threads} threads, seq {seq}, batch {batch}) | tokens/s | model TFLOP/s "
      f"| of the dense twin's model TFLOP/s (same implementation) | peak RSS "
      f"| ours ÷ PyTorch tuned (same model) | measured steps |")
print("|---|---:|---:|---:|---:|---:|---:|")
for m in models.split():
    twin_ffn = desc[m + "-dense"]["ffn_hidden_size"]
    for who, label in (("ours", "ours"), ("torch", "PyTorch tuned")):
        for suffix, what in (("", f"tiny_{m} (MoE)"), ("-dense", f"tiny_{m} dense twin (ffn {twin_ffn})")):
            run = f"{who}-{m}{suffix}"
            if run not in rows:
                continue
            tps, rss, n = rows[run][:3]
            g = gflops(run, m + suffix)
            dense_run = f"{who}-{m}-dense"
            if suffix == "" and dense_run in rows:
                frac = f"{100 * g / gflops(dense_run, m + '-dense'):.1f} %"
            else:
                frac = "—"
            theirs = f"torch-{m}{suffix}"
            ratio = f"{tps / rows[theirs][0]:.2f}×" if who == "ours" and theirs in rows else "—"
            print(f"| {label}, {what} | {tps:.0f} | {g * 1e-3:.3f} | {frac} | {rss / 2**30:.2f} GiB "
                  f"| {ratio} | {n} |")
print()
for m in models.split():
    for suffix in ("", "-dense"):
        d = desc[m + suffix]
        parts = d["flops_parts"]
        total = d["flops_per_token"]
        share = ", ".join(f"{k.replace('_', ' ')} {100 * v / total:.0f} %" for k, v in parts.items())
        engine, rounding = rows.get(f"ours-{m}{suffix}", (0, 0, 0, math.nan, math.nan))[3:]
        if math.isnan(engine):
            agree = ""
        else:
            off = abs(engine * 1e9 / total - 1)
            verdict = ("agrees" if off <= 1e-3 + 1.01 * rounding else
                       "DIFFERS: compare src/train/flops.cpp with torch_moe_bench.flops_per_token")
            agree = (f"; the engine's log implies {engine:.4f} ({verdict}, "
                     f"{100 * off:.2f} % off, its 3-decimal TFLOP/s rounding allows {100 * rounding:.2f} %)")
        kind = "dense twin" if suffix else "MoE"
        counted = "Megatron's formula, active experts" if not suffix else "Megatron's formula"
        print(f"- tiny_{m} {kind}: {total / 1e9:.4f} GFLOP per token ({counted}; {share}){agree}; "
              f"{d['parameters'] / 1e6:.1f}M parameters.")
print()
print(f"Medians over the steps after {warmup} warm-up steps; one micro-batch per step "
      f"({int(batch) * int(seq)} tokens). PyTorch BLAS: {blas_note}. "
      f"Load average before the runs: {load_before}; at the end: {load_after}.")
print()
print("Targets:")
for m in models.split():
    if f"ours-{m}" in rows and f"torch-{m}" in rows:
        print(f"- tiny_{m}: ours ÷ PyTorch tuned: {rows[f'ours-{m}'][0] / rows[f'torch-{m}'][0]:.2f}× (≥ 2×)")
    if f"ours-{m}" in rows and f"ours-{m}-dense" in rows:
        print(f"- tiny_{m}: ours' model TFLOP/s of its dense twin's: "
              f"{100 * gflops(f'ours-{m}', m) / gflops(f'ours-{m}-dense', m + '-dense'):.1f} % (≥ 70 %)")
    if f"ours-{m}" in rows and f"torch-{m}" in rows:
        a, b = rows[f"ours-{m}"][1] / 2**30, rows[f"torch-{m}"][1] / 2**30
        print(f"- tiny_{m}: peak RSS ours {a:.2f} GiB vs PyTorch {b:.2f} GiB")
EOF_PY
