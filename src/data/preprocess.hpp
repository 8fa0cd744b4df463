// Megatron's tools/preprocess_data.py as a library: JSONL (optionally gzip-compressed) in,
// PREFIX_{key}_document.{bin,idx} out, one document per line and JSON key, each tokenized with
// special tokens as the tokenizer's post-processor declares (Megatron's tokenize()), EOD appended
// on request, dtype uint16 when the vocabulary fits else int32. Lines are tokenized by `workers`
// threads and written in input order, so the output does not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/tokenizer/tokenizer.hpp"

namespace primus::data {

// More tokenizer threads than this is a mistake, not a machine (each holds a batch of lines).
inline constexpr int kMaxWorkers = 1024;

struct PreprocessOptions {
  std::string input;                       // .jsonl or .jsonl.gz (gzip detected by content)
  std::string output_prefix;
  std::vector<std::string> json_keys{"text"};
  bool append_eod = false;
  int workers = 1;
  bool skip_bad_lines = false;             // else a malformed line is an error with its number
};

struct PreprocessStats {
  std::int64_t documents = 0;
  std::int64_t skipped_lines = 0;
  std::int64_t input_bytes = 0;            // uncompressed bytes of JSONL read
  std::int64_t tokens = 0;
  double seconds = 0;
  std::vector<std::string> outputs;        // prefixes written (without .bin/.idx)
};

// progress(stats_so_far) is called every ~0.5 s from the calling thread (may be empty).
// The outputs appear only when the whole input was read and written (io/atomic_file.hpp): a run
// that fails leaves no PREFIX_{key}_document.{bin,idx} behind.
PreprocessStats preprocess_jsonl(const Tokenizer& tokenizer, const PreprocessOptions& options,
                                 const std::function<void(const PreprocessStats&)>& progress = {});

}  // namespace primus::data
