// Reference token ids from the JS implementation @lenml/tokenizers (a port of Hugging Face's
// tokenizers to JavaScript, installed by scripts/fetch_assets.sh into assets/js).
//
// usage: node tokenize_js.mjs SNAPSHOT_DIR TEXTS.json OUT.json
// TEXTS.json is a JSON list of strings. OUT.json receives
//   {"plain": [ids...], "special": [ids...], "decoded": [text...]}
// per text: encode(text, {add_special_tokens: false}), encode(text) with special tokens, and
// decode(plain ids).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, "../../../assets/js/package.json"));
const { TokenizerLoader } = require("@lenml/tokenizers");

const [snapshot, textsPath, outPath] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(readFileSync(`${snapshot}/tokenizer.json`, "utf8"));
const tokenizerConfig = JSON.parse(readFileSync(`${snapshot}/tokenizer_config.json`, "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const texts = JSON.parse(readFileSync(textsPath, "utf8"));
const plain = texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false })));
const special = texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: true })));
const decoded = plain.map((ids) => (ids.length ? tokenizer.decode(ids) : ""));
writeFileSync(outPath, JSON.stringify({ plain, special, decoded }));
