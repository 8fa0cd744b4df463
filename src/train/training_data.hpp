// The data side of a training run, built once from the resolved Args: the tokenizer (which
// gives the vocabulary size), the train/valid/test GPT datasets (real .bin/.idx blends, per-split
// paths or mock data), and a loader that fills preallocated micro-batch buffers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "config/args.hpp"
#include "data/sample_dataset.hpp"
#include "data/tokenizer/tokenizer.hpp"

namespace primus::train {

enum class Split { kTrain = 0, kValid = 1, kTest = 2 };

struct TrainingData {
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::array<std::shared_ptr<data::SampleDataset>, 3> datasets;  // nullptr where a split is empty
  std::int64_t vocab_size = 0;

  const data::SampleDataset* dataset(Split s) const { return datasets[static_cast<size_t>(s)].get(); }
};

// Samples each split needs (Megatron's train_valid_test_num_samples).
std::array<std::int64_t, 3> samples_per_split(const config::Args& args);

TrainingData build_training_data(const config::Args& args);

// Megatron's sampler order ('single', data_samplers.py): the global batch starting at sample C is
// walked in steps of micro_batch·DP samples; data-parallel rank r takes the r-th micro_batch
// slice of every step, so its micro-batch m starts at C + m·micro_batch·DP + r·micro_batch. The
// ranks together read exactly the samples one process would, in the same order.
std::int64_t first_sample_of(std::int64_t consumed, std::int64_t micro_batch_index, std::int64_t micro_batch,
                             std::int64_t data_parallel_size, std::int64_t data_parallel_rank);

// Reads micro-batches of consecutive samples (the GPT dataset's shuffle index already randomises
// which document windows they are). With dataloader_type 'cyclic' the order wraps around the
// split instead of ending. Every token and label is checked against the vocabulary, so data
// tokenized for another vocabulary stops the run with the sample's index.
class MicroBatchLoader {
 public:
  MicroBatchLoader(const data::SampleDataset& dataset, std::int64_t micro_batch, bool wrap, std::int64_t vocab_size,
                   std::string split_name);
  // Fills tokens/labels [mbs, seq] and loss_mask [mbs, seq] with samples first .. first+mbs-1.
  void load(std::int64_t first_sample, std::int32_t* tokens, std::int32_t* labels, float* loss_mask) const;

 private:
  const data::SampleDataset& dataset_;
  std::int64_t micro_batch_;
  bool wrap_;
  std::int64_t vocab_size_;
  std::string split_name_;
  mutable std::vector<std::int32_t> positions_;  // position ids (this model derives positions itself)
};

}  // namespace primus::train
