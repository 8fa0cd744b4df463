// Builds the train/valid/test GPT datasets from plain parameters, the way Megatron's
// BlendedMegatronDatasetBuilder does: one blend + split string, or one blend per split, or mock
// data; weighted blends get per-dataset sample targets ceil(ceil(S·w)·(1+surplus)) and a
// BlendedDataset on top; a single unweighted path is used directly.
// The trainer maps its Args onto GPTDatasetsSpec (data_path → blend, train/valid/test_data_path
// → blend_per_split, seq_length, seed, data_cache_path, eod, flags) and reads samples through
// SampleDataset::get().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/gpt_dataset.hpp"
#include "data/sample_dataset.hpp"

namespace primus::data {

struct Blend {
  std::vector<std::string> prefixes;
  std::vector<double> weights;  // empty: no weights
};

// Megatron's --data-path list: "p" | "w1 p1 w2 p2 ..." (weights before paths).
// Throws primus::Error when the list mixes forms or a weight is not a number.
Blend parse_blend(const std::vector<std::string>& data_path);

struct GPTDatasetsSpec {
  std::optional<Blend> blend;                            // data_path (with split)
  std::array<std::optional<Blend>, 3> blend_per_split;   // train/valid/test_data_path
  bool mock = false;
  std::string split = "969, 30, 1";
  std::array<std::optional<std::int64_t>, 3> num_samples;  // per split; nullopt = one epoch
  // sequence_length, random_seed, tokenizer_identity, path_to_cache, eod_id, pad_id and flags
  // are taken from here; its split/split_matrix/mock fields are filled in by the builder.
  GPTDatasetConfig config;
  double mid_level_dataset_surplus = 0.005;
  std::int64_t vocab_size = 0;  // mock data only
};

// One dataset per split (nullptr where the split has no blend, a zero fraction, or — for valid and
// test — rounds to zero sequences of a small dataset; an empty train split is an error).
std::array<std::shared_ptr<SampleDataset>, 3> build_gpt_datasets(const GPTDatasetsSpec& spec);

}  // namespace primus::data
