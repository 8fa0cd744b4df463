// Fuzz target: the Hugging Face tokenizer.json loader (normalizers, pre-tokenizers, BPE
// models, added tokens, post-processors, decoders) and, when a file loads, encoding and decoding
// of a few texts with it. The input is "<tokenizer.json>\n--- text\n<text to encode>".
// Run by libFuzzer (tokenizer_json_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/tokenizer/hf_tokenizer.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void tokenizer_json(const std::uint8_t* data, std::size_t size) {
  const auto [json, text] = primus::fuzz::split_input(data, size, "\n--- text\n");
  const auto path = primus::fuzz::write_input("tokenizer.json", json.data(), json.size());
  try {
    primus::data::HfTokenizer tokenizer(path.string());
    for (const std::string_view sample : {text, std::string_view("Hello world! 123 \xc3\xa9t\xc3\xa9  \n\t<s>x</s>")}) {
      std::vector<std::int32_t> ids;
      try {
        tokenizer.encode(sample, ids, true);
        (void)tokenizer.decode(ids, false);
        (void)tokenizer.decode(ids, true);
      } catch (const primus::Error&) {
      }
    }
    std::vector<std::int32_t> all;
    for (std::int64_t id = 0; id < tokenizer.vocab_size() && id < 512; ++id) all.push_back(static_cast<std::int32_t>(id));
    try {
      (void)tokenizer.decode(all, false);
    } catch (const primus::Error&) {
    }
    try {
      (void)tokenizer.eod();
    } catch (const primus::Error&) {
    }
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
