#!/usr/bin/env bash
# The main job: set up, build, then run the default experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/primus config show --config examples/megatron/configs/tiny_llama-pretrain.yaml "$@"
