#!/usr/bin/env bash
# Training throughput of tiny_llama (hidden 512, ffn 1408, 8 layers, 8 heads / 4 query groups,
# seq 512, micro-batch 8 = global batch, vocab 32000) in our engine and in PyTorch, on the same
# machine, in the same run, on the same number of threads; prints a markdown table (see
# docs/benchmarks.md for the numbers and their reading).
#
# Rows: ours fp32, ours bf16 (`primus train pretrain` on mock data, NullTokenizer); PyTorch fp32
# and bf16 (autocast) tuned as well as this machine allows (jemalloc, OpenBLAS with
# OPENBLAS_CORETYPE=SkylakeX); PyTorch fp32 in its default environment (OpenBLAS, no jemalloc,
# no core type) for context.
# The PyTorch step is a real training step of the same model (tools/bench/torch_train_bench.py,
# checked against tools/reference/model/llama_reference.py first): AdamW, cross-entropy,
# backward, global-norm clipping at 1.0.
# Columns: tokens/s = batch tokens / median step time over the measured steps (after warm-up);
# model TFLOP/s from Megatron's FLOPs formula (megatron-formats.md §4, what the engine logs);
# fraction of the fp32 peak (--peak-gflops) and of the oneDNN fp32 GEMM ceiling measured in this
# run at the model's GEMM shapes (forward, dgrad and wgrad of QKV, proj, fc1, fc2 and the output
# layer over 4096 tokens, weighted as one training step uses them: total flops / total time);
# peak RSS (ours: /usr/bin/time -v; PyTorch: getrusage); ours ÷ PyTorch tuned, same precision.
#
# usage: tools/bench/train_bench.sh [--build-dir build] [--threads 2] [--steps 13] [--warmup 3]
#                                   [--peak-gflops 440] [--no-torch-default]
#   --steps counts every step, the --warmup first ones included (they are not measured).
# Builds the engine first when needed (scripts/build.sh). Needs /usr/bin/python3 with torch and
# /usr/bin/time; takes a few minutes on a quiet machine (much longer on a loaded one: check
# `uptime` first).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

build=build threads=2 steps=13 warmup=3 peak_gflops=440 torch_default=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --peak-gflops) peak_gflops=$2; shift 2 ;;
    --no-torch-default) torch_default=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "train_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$steps" -gt "$warmup" ] || { echo "train_bench: --steps must exceed --warmup" >&2; exit 2; }

# The model (tiny_llama preset) and batch.
layers=8 hidden=512 ffn=1408 heads=8 groups=4 vocab=32000 seq=512 batch=8
py=/usr/bin/python3
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null ||
  { echo "train_bench: $py cannot import torch (Debian's python3-torch)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "train_bench: /usr/bin/time missing (Debian's time)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/primus-train-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { echo "train_bench: $*" >&2; }

# --- the engine -------------------------------------------------------------------------------
if [ -x "$build/primus" ]; then
  log "building $build/primus (incremental)"
  cmake --build "$build" --target primus >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
else
  log "building the project into $build (scripts/build.sh)"
  scripts/build.sh "$build"
fi

# --- oneDNN GEMM ceiling at the model's shapes ------------------------------------------------
cat > "$tmp/gemm_ceiling.cpp" <<'EOF_CPP'
// oneDNN GEMM ceiling at a Llama model's linear-layer shapes (see tools/bench/train_bench.sh).
#include <dnnl.h>
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

using i64 = std::int64_t;

struct Shape {
  const char* layer;
  const char* pass;
  i64 m, n, k;
  bool ta, tb, acc;
  int count;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F>
double median_seconds(int reps, F&& f) {
  f();  // warm-up: first touch, primitive caches
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    f();
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<std::uint16_t>(u >> 16);
}

dnnl::memory::desc md(i64 rows, i64 cols, bool trans, dnnl::memory::data_type dt) {
  // Logical [rows x cols]; stored transposed (column-major) when trans.
  return dnnl::memory::desc({rows, cols}, dt,
                            trans ? dnnl::memory::dims{1, rows} : dnnl::memory::dims{cols, 1});
}

}  // namespace

int main(int argc, char** argv) {
  i64 tokens = 4096, hidden = 512, ffn = 1408, heads = 8, groups = 4, vocab = 32000, layers = 8;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const i64 v = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tokens")) tokens = v;
    else if (!std::strcmp(argv[i], "--hidden")) hidden = v;
    else if (!std::strcmp(argv[i], "--ffn")) ffn = v;
    else if (!std::strcmp(argv[i], "--heads")) heads = v;
    else if (!std::strcmp(argv[i], "--groups")) groups = v;
    else if (!std::strcmp(argv[i], "--vocab")) vocab = v;
    else if (!std::strcmp(argv[i], "--layers")) layers = v;
    else if (!std::strcmp(argv[i], "--reps")) reps = static_cast<int>(v);
    else { std::fprintf(stderr, "gemm_ceiling: unknown argument %s\n", argv[i]); return 2; }
  }
  const i64 d = hidden / heads;
  struct Linear { const char* name; i64 out, in; int count; };
  const Linear linears[] = {{"qkv", (heads + 2 * groups) * d, hidden, int(layers)},
                            {"proj", hidden, heads * d, int(layers)},
                            {"fc1", 2 * ffn, hidden, int(layers)},
                            {"fc2", hidden, ffn, int(layers)},
                            {"output", vocab, hidden, 1}};
  std::vector<Shape> shapes;
  for (const auto& l : linears) {
    // y[T,out] = x[T,in] W^T;  dx[T,in] = dy[T,out] W;  dW[out,in] += dy^T x (accumulated).
    shapes.push_back({l.name, "fwd", tokens, l.out, l.in, false, true, false, l.count});
    shapes.push_back({l.name, "dgrad", tokens, l.in, l.out, false, false, false, l.count});
    shapes.push_back({l.name, "wgrad", l.out, l.in, tokens, true, false, true, l.count});
  }
  i64 max_a = 0, max_b = 0, max_c = 0;
  for (const auto& s : shapes) {
    max_a = std::max(max_a, s.m * s.k);
    max_b = std::max(max_b, s.k * s.n);
    max_c = std::max(max_c, s.m * s.n);
  }
  std::vector<float> a(max_a), b(max_b), c(max_c, 0.0f);
  std::mt19937 gen(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& x : a) x = nd(gen);
  for (auto& x : b) x = nd(gen);
  std::vector<std::uint16_t> ah(max_a), bh(max_b);
  for (i64 i = 0; i < max_a; ++i) ah[i] = to_bf16(a[i]);
  for (i64 i = 0; i < max_b; ++i) bh[i] = to_bf16(b[i]);

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  using dt = dnnl::memory::data_type;
  auto matmul_seconds = [&](const Shape& s, dt type, void* pa, void* pb) {
    dnnl::primitive_attr attr;
    if (s.acc) {
      dnnl::post_ops po;
      po.append_sum(1.0f);
      attr.set_post_ops(po);
    }
    const auto a_md = md(s.m, s.k, s.ta, type), b_md = md(s.k, s.n, s.tb, type);
    const auto c_md = md(s.m, s.n, false, dt::f32);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, eng);
    dnnl::matmul prim(pd);
    dnnl::memory am(a_md, eng, pa), bm(b_md, eng, pb), cm(c_md, eng, c.data());
    return median_seconds(reps, [&] {
      prim.execute(strm, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
      strm.wait();
    });
  };

  std::printf("%-7s %-6s %6s %6s %6s %5s  %11s %11s %11s   (GFLOP/s, median of %d)\n", "layer",
              "gemm", "M", "N", "K", "count", "dnnl_sgemm", "f32 matmul", "bf16 matmul", reps);
  double flops_total = 0, t32_total = 0, t16_total = 0;
  for (const auto& s : shapes) {
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    const i64 lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const double t_sgemm = median_seconds(reps, [&] {
      dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(),
                 ldb, s.acc ? 1.0f : 0.0f, c.data(), s.n);
    });
    const double t_mm32 = matmul_seconds(s, dt::f32, a.data(), b.data());
    const double t_mm16 = matmul_seconds(s, dt::bf16, ah.data(), bh.data());
    std::printf("%-7s %-6s %6lld %6lld %6lld %5d  %11.1f %11.1f %11.1f\n", s.layer, s.pass,
                static_cast<long long>(s.m), static_cast<long long>(s.n),
                static_cast<long long>(s.k), s.count, flops / t_sgemm * 1e-9,
                flops / t_mm32 * 1e-9, flops / t_mm16 * 1e-9);
    flops_total += s.count * flops;
    t32_total += s.count * std::min(t_sgemm, t_mm32);
    t16_total += s.count * t_mm16;
  }
  // The ceiling: all GEMMs of one training step (each layer's shapes times the layer count),
  // each at the faster of oneDNN's two fp32 interfaces; total flops over total time.
  std::printf("step_gemm_gflop %.1f\n", flops_total * 1e-9);
  std::printf("fp32_ceiling_gflops %.1f\n", flops_total / t32_total * 1e-9);
  std::printf("bf16_ceiling_gflops %.1f\n", flops_total / t16_total * 1e-9);
  return 0;
}
EOF_CPP
log "compiling the oneDNN GEMM ceiling probe"
g++ -std=c++17 -O3 -march=native -o "$tmp/gemm_ceiling" "$tmp/gemm_ceiling.cpp" -ldnnl

# --- OpenBLAS for the tuned PyTorch -----------------------------------------------------------
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

# --- measurements -----------------------------------------------------------------------------
results=$tmp/results.tsv  # name, tokens/s, peak RSS bytes, measured steps
: > "$results"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

ours() {  # name, bf16 (true|false)
  local name=$1 bf16=$2 out=$tmp/$1.log
  log "$name: $steps iterations"
  OMP_NUM_THREADS=$threads /usr/bin/time -v -o "$tmp/$name.time" \
    "$build/primus" train pretrain --config examples/megatron/configs/tiny_llama-pretrain.yaml \
    --tokenizer-type NullTokenizer --vocab-size $((vocab - 1)) --mock-data \
    --seq-length $seq --micro-batch-size $batch --global-batch-size $batch \
    --train-iters "$steps" --lr-warmup-iters 1 --eval-iters 0 --log-interval 1 \
    --log-avg-skip-iterations "$warmup" --bf16="$bf16" --workspace "$tmp/workspace" >"$out" 2>&1 ||
    { tail -20 "$out" >&2; log "$name failed"; exit 1; }
  local ms rss n
  ms=$(sed -n 's/.* iteration *\([0-9]*\)\/.*elapsed time per iteration (ms): \([0-9.]*\)\/.*/\1 \2/p' "$out" |
       awk -v w="$warmup" '$1 > w {print $2}')
  n=$(echo "$ms" | wc -l)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2 * 1024}' "$tmp/$name.time")
  grep -h "training summary" "$out" | sed 's/^.*training summary/  summary/' >&2
  echo -e "$name\t$(echo "$ms" | median | awk -v t=$((batch * seq)) '{printf "%.2f", t / ($1 / 1000)}')\t$rss\t$n" >> "$results"
}

torch_run() {  # name, environment (tuned|default), extra arguments
  local name=$1 env=$2; shift 2
  # Both get OpenBLAS (as with Debian's libopenblas0 installed); only the tuned one gets
  # jemalloc and the AVX-512 kernels (OpenBLAS 0.3.21 does not recognise this CPU by itself).
  local -a envs=(OMP_NUM_THREADS="$threads")
  [ -n "$openblas_dir" ] && envs+=(LD_LIBRARY_PATH="$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  [ "$env" = tuned ] && envs+=(LD_PRELOAD="$jemalloc" OPENBLAS_CORETYPE=SkylakeX)
  log "$name: $steps steps"
  env "${envs[@]}" "$py" tools/bench/torch_train_bench.py --layers $layers --hidden $hidden \
    --ffn $ffn --heads $heads --groups $groups --vocab $vocab --seq $seq --batch $batch \
    --steps "$steps" --warmup "$warmup" --threads "$threads" "$@" > "$tmp/$name.json"
  "$py" -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("%s\t%.2f\t%d\t%d" % (sys.argv[2], r["tokens_per_second"], r["peak_rss_bytes"], r["measured"]))' \
    "$tmp/$name.json" "$name" >> "$results"
}

log "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(uptime | sed 's/.*load/load/')"
log "PyTorch model check against the fidelity reference"
"$py" tools/bench/torch_train_bench.py --check
log "oneDNN GEMM ceiling ($threads threads)"
OMP_NUM_THREADS=$threads "$tmp/gemm_ceiling" --tokens $((batch * seq)) --hidden $hidden --ffn $ffn \
  --heads $heads --groups $groups --vocab $vocab --layers $layers > "$tmp/ceiling.txt"
sed 's/^/  /' "$tmp/ceiling.txt" >&2
ours ours-fp32 false
torch_run torch-tuned-fp32 tuned
ours ours-bf16 true
torch_run torch-tuned-bf16 tuned --bf16
[ "$torch_default" = 1 ] && torch_run torch-default-fp32 default
load_after=$(uptime | sed 's/.*load average: //')

# --- the table --------------------------------------------------------------------------------
"$py" - "$results" "$tmp/ceiling.txt" "$peak_gflops" "$threads" "$warmup" "$blas_note" \
  "$load_after" <<'EOF_PY'
import sys
results, ceiling_file, peak, threads, warmup, blas_note, load = sys.argv[1:]
peak = float(peak)
ceil = {}
for line in open(ceiling_file):
    k, _, v = line.partition(" ")
    if k.endswith("_gflops") or k == "step_gemm_gflop":
        ceil[k] = float(v)
rows = {}
for line in open(results):
    name, tps, rss, n = line.rstrip("\n").split("\t")
    rows[name] = (float(tps), int(float(rss)), int(n))

# Megatron's FLOPs per token (megatron-formats.md §4): tiny_llama, SwiGLU (f = 3), GQA.
L, h, ffn, n, g, V, s = 8, 512, 1408, 8, 4, 32000, 512
d = h // n
q, kv = d * n, d * g
flops_per_token = (6 * h * ffn * 3 * L + L * 6 * (h * (q + 2 * kv) + q * h) + 6 * h * V
                   + s * L * 6 * q)
labels = {
    "ours-fp32": ("ours, fp32", "torch-tuned-fp32"),
    "ours-bf16": ("ours, bf16", "torch-tuned-bf16"),
    "torch-tuned-fp32": ("PyTorch tuned, fp32", None),
    "torch-tuned-bf16": ("PyTorch tuned, bf16 autocast", None),
    "torch-default-fp32": ("PyTorch default env, fp32", None),
}
print(f"| run ({threads} threads) | tokens/s | model TFLOP/s | of fp32 peak ({peak:.0f} GFLOP/s) "
      f"| of oneDNN sgemm ceiling ({ceil['fp32_ceiling_gflops']:.0f} GFLOP/s) | peak RSS "
      f"| ours ÷ PyTorch tuned (same precision) | measured steps |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for key, (label, versus) in labels.items():
    if key not in rows:
        continue
    tps, rss, nsteps = rows[key]
    gflops = tps * flops_per_token * 1e-9
    ratio = f"{tps / rows[versus][0]:.2f}×" if versus and versus in rows else "—"
    print(f"| {label} | {tps:.0f} | {gflops * 1e-3:.3f} | {100 * gflops / peak:.1f} % "
          f"| {100 * gflops / ceil['fp32_ceiling_gflops']:.1f} % | {rss / 2**30:.2f} GiB "
          f"| {ratio} | {nsteps} |")
print()
print(f"Model FLOPs per token {flops_per_token / 1e9:.4f} GFLOP (Megatron's formula); "
      f"oneDNN GEMM ceiling at the model's shapes ({ceil['step_gemm_gflop']:.0f} GFLOP of GEMMs "
      f"per step): fp32 {ceil['fp32_ceiling_gflops']:.1f} GFLOP/s "
      f"({100 * ceil['fp32_ceiling_gflops'] / peak:.0f} % of peak), "
      f"bf16 {ceil['bf16_ceiling_gflops']:.1f} GFLOP/s.")
print(f"Medians over the steps after {warmup} warm-up steps. PyTorch BLAS: {blas_note}. "
      f"Load average at the end: {load}.")
tps = lambda k: rows[k][0] if k in rows else float("nan")
print()
print("Targets:")
print(f"- ours fp32 ÷ PyTorch tuned fp32: {tps('ours-fp32') / tps('torch-tuned-fp32'):.2f}× (≥ 1.6×)")
print(f"- ours fp32 of the sgemm ceiling: "
      f"{100 * tps('ours-fp32') * flops_per_token * 1e-9 / ceil['fp32_ceiling_gflops']:.1f} % (≥ 65 %)")
print(f"- ours bf16 ÷ ours fp32: {tps('ours-bf16') / tps('ours-fp32'):.2f}× (≥ 1.6×); ours bf16 of "
      f"the bf16 GEMM ceiling: "
      f"{100 * tps('ours-bf16') * flops_per_token * 1e-9 / ceil['bf16_ceiling_gflops']:.1f} %")
for ours, theirs in (("ours-fp32", "torch-tuned-fp32"), ("ours-bf16", "torch-tuned-bf16")):
    if ours in rows and theirs in rows:
        a, b = rows[ours][1] / 2**30, rows[theirs][1] / 2**30
        print(f"- peak RSS {ours} {a:.2f} GiB vs {theirs} {b:.2f} GiB: "
              f"{'below' if a < b else 'NOT below'} (below PyTorch's)")
EOF_PY
