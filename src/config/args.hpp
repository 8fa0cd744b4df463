// Args: the resolved, validated configuration as one struct with a typed field per argument
// (generated from src/config/arguments.tsv) plus the values derived from them once. Produced by
// resolve_args() and read everywhere; nothing else parses configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/layer_freq.hpp"

namespace primus::config {

struct Args {
#define PRIMUS_ARGUMENT(key, cpp, ...) cpp key{};
#include "config/generated/arguments.inc"
#undef PRIMUS_ARGUMENT

  // Derived once (Megatron computes these in validate_args / initialize):
  int64_t world_size = 1;
  int64_t data_parallel_size = 1;                 // world / (TP·PP·CP)
  int64_t num_micro_batches = 1;                  // global / (micro · DP)
  // padded_vocab_size (a Megatron argument) is derived from vocab_size when that is known;
  // otherwise the tokenizer gives the vocabulary at start-up.
};

// vocab padded up to a multiple of make_vocab_size_divisible_by × TP, as Megatron pads it.
int64_t pad_vocab_size(int64_t vocab_size, const Args& args);

}  // namespace primus::config
