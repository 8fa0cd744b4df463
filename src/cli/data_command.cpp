// `primus data preprocess`: Megatron's tools/preprocess_data.py — JSONL[.gz] → PREFIX_text_document
// .bin/.idx with a Hugging Face or Null tokenizer. A progress line (MB/s, docs/s) on a terminal, a
// one-line summary otherwise.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/number_options.hpp"
#include "data/preprocess.hpp"
#include "data/tokenizer/tokenizer_factory.hpp"

namespace primus::cli {

namespace {

struct PreprocessArgs {
  data::PreprocessOptions options;
  std::string tokenizer_type;
  std::string tokenizer_model;
  std::int64_t vocab_size = 0;
};

std::string rate(double bytes, double seconds) {
  return fmt::format("{:.2f} MB/s", seconds > 0 ? bytes / 1e6 / seconds : 0.0);
}

}  // namespace

void register_data_command(CLI::App& app) {
  auto* data_cmd = app.add_subcommand("data", "Prepare training data");
  data_cmd->require_subcommand(1);
  auto args = std::make_shared<PreprocessArgs>();
  args->options.workers = static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, data::kMaxWorkers));
  auto* pre = data_cmd->add_subcommand(
      "preprocess",
      "Tokenize a JSONL corpus (one JSON object per line, .gz accepted) into Megatron's indexed dataset "
      "PREFIX_{key}_document.bin/.idx, as Megatron's tools/preprocess_data.py does");
  pre->add_option("--input", args->options.input, "JSONL file (.jsonl or .jsonl.gz)")->required();
  pre->add_option("--output-prefix", args->options.output_prefix, "Output prefix (PREFIX_text_document.bin/.idx)")
      ->required();
  pre->add_option("--tokenizer-type", args->tokenizer_type,
                  "Llama2Tokenizer, Llama3Tokenizer, MixtralTokenizer, DeepSeekV2Tokenizer, DeepSeekV3Tokenizer, "
                  "Qwen2Tokenizer, HuggingFaceTokenizer or NullTokenizer")
      ->required();
  pre->add_option("--tokenizer-model", args->tokenizer_model,
                  "tokenizer.json, a folder with one, or a Hugging Face id in $HF_HOME/hub");
  add_positive_integer_option(pre, "--vocab-size", args->vocab_size, "Vocabulary size (NullTokenizer only)",
                              (std::int64_t{1} << 31) - 2);
  pre->add_option("--json-keys", args->options.json_keys, "JSON keys to tokenize (default: text)");
  pre->add_flag("--append-eod", args->options.append_eod, "Append the end-of-document token to each document");
  add_positive_integer_option(pre, "--workers", args->options.workers,
                              fmt::format("Tokenizer threads (default: all cores; at most {})", data::kMaxWorkers),
                              data::kMaxWorkers);
  pre->add_flag("--skip-bad-lines", args->options.skip_bad_lines,
                "Skip (and count) malformed JSON lines instead of stopping at the first");
  pre->callback([args] {
    std::optional<std::int64_t> vocab;
    if (args->vocab_size > 0) vocab = args->vocab_size;
    const auto tokenizer = data::make_tokenizer(args->tokenizer_type, args->tokenizer_model, vocab);
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    auto progress = [&](const data::PreprocessStats& s) {
      std::fprintf(stderr, "\rpreprocess: %lld docs, %.1f MB, %s, %.0f docs/s   ",
                   static_cast<long long>(s.documents), static_cast<double>(s.input_bytes) / 1e6,
                   rate(static_cast<double>(s.input_bytes), s.seconds).c_str(),
                   s.seconds > 0 ? static_cast<double>(s.documents) / s.seconds : 0.0);
      std::fflush(stderr);
    };
    const auto stats = tty ? data::preprocess_jsonl(*tokenizer, args->options, progress)
                           : data::preprocess_jsonl(*tokenizer, args->options);
    if (tty) std::fputs("\r\033[K", stderr);
    std::string outputs;
    for (const auto& o : stats.outputs) outputs += (outputs.empty() ? "" : ", ") + o + ".{bin,idx}";
    std::printf("preprocess: %lld documents, %lld tokens, %.1f MB in %.1f s (%s, %.2f MB/s per worker, "
                "%.0f docs/s, %d workers)%s -> %s\n",
                static_cast<long long>(stats.documents), static_cast<long long>(stats.tokens),
                static_cast<double>(stats.input_bytes) / 1e6, stats.seconds,
                rate(static_cast<double>(stats.input_bytes), stats.seconds).c_str(),
                stats.seconds > 0 ? static_cast<double>(stats.input_bytes) / 1e6 / stats.seconds / args->options.workers : 0.0,
                stats.seconds > 0 ? static_cast<double>(stats.documents) / stats.seconds : 0.0, args->options.workers,
                stats.skipped_lines > 0 ? fmt::format(", {} bad lines skipped", stats.skipped_lines).c_str() : "",
                outputs.c_str());
  });
}

}  // namespace primus::cli
