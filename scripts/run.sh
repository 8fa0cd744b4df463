#!/usr/bin/env bash
# The main job: set up (dependencies, tokenizers, the Brown corpus), build, then train tiny_llama
# on the Brown corpus (examples/megatron/configs/tiny_llama_brown-pretrain.yaml). Extra arguments
# are overrides, e.g. `bash scripts/run.sh --train_iters 20`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/primus train pretrain --config examples/megatron/configs/tiny_llama_brown-pretrain.yaml "$@"
