#!/usr/bin/env bash
# Set up, build and run every test: the Release build's full suite, then the suites again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of every fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests run two at a time on two cores: spinning OpenMP workers would starve each other.
export OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1
scripts/setup.sh
scripts/build.sh build
(cd build && ctest --output-on-failure -j 2 --timeout 600)
# -O1 -g1: sanitizer reports keep file:line, and the build and the numerics-heavy tests stay quick.
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRIMUS_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -march=native"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900 -LE slow)
# Fuzz smoke run: the libFuzzer targets (clang) a few seconds each from their seed corpus; the
# long runs are scripts/fuzz.sh with minutes per target.
PRIMUS_FUZZ_SEED=1 scripts/fuzz.sh 8
