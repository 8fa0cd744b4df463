#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with Debian's clang into build-fuzz/ and runs each one
# for SECONDS, one after another, at the lowest CPU priority.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET=600] [TARGET...]     e.g. scripts/fuzz.sh 60 yaml_reader
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>, in the repository, never
# modified here) plus what earlier runs on this machine found (build-fuzz/corpus/<target>). A
# finding — crash, sanitizer report, timeout (> 10 s for one input) or memory blow-up (> 2 GiB) —
# is written to build-fuzz/findings/<target>/ and makes the script exit non-zero; reproduce it
# with build-fuzz/fuzz/<target>_fuzzer FILE, then add FILE to tests/fuzz/regressions/<target>/ (the
# test suites run every file there) once it is fixed. PRIMUS_FUZZ_SEED=N makes a run repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
all=(yaml_reader config_resolve idx_reader tokenizer_json safetensors_reader npy_reader checkpoint_metadata
     torch_checkpoint)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

cxx=$(command -v clang++-14 || command -v clang++ || true)
[ -n "$cxx" ] || { echo "fuzz: clang++ not found (scripts/setup.sh installs clang-14)" >&2; exit 1; }
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR=$PWD
cmake -S . -B build-fuzz -G Ninja -DPRIMUS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -march=native" "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/%/_fuzzer}"

# Reports name the file:line of a finding; leaks are the tests' job (ASan suite), not the fuzzers'.
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t"
  echo "fuzz: $t for ${seconds} s"
  log="build-fuzz/findings/$t.log"
  if nice -n 19 "build-fuzz/fuzz/${t}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -seed="${PRIMUS_FUZZ_SEED:-0}" \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$t/" \
      "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, no finding"
  else
    status=1
    echo "fuzz: $t: FINDING — see $log and build-fuzz/findings/$t/" >&2
    grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$log" | head -5 >&2 || true
  fi
done
exit $status
