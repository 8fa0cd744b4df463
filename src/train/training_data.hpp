// The data side of a training run, built once from the resolved Args: the tokenizer (which
// gives the vocabulary size), the train/valid/test GPT datasets (real .bin/.idx blends, per-split
// paths or mock data), and a loader that fills preallocated micro-batch buffers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

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

// Reads micro-batches of consecutive samples (Megatron's sequential 'single' order; the GPT
// dataset's shuffle index already randomises which document windows they are). With
// dataloader_type 'cyclic' the order wraps around the split instead of ending.
class MicroBatchLoader {
 public:
  MicroBatchLoader(const data::SampleDataset& dataset, std::int64_t micro_batch, bool wrap);
  // Fills tokens/labels [mbs, seq] and loss_mask [mbs, seq] with samples first .. first+mbs-1.
  void load(std::int64_t first_sample, std::int32_t* tokens, std::int32_t* labels, float* loss_mask) const;

 private:
  const data::SampleDataset& dataset_;
  std::int64_t micro_batch_;
  bool wrap_;
  mutable std::vector<std::int32_t> positions_;  // position ids (this model derives positions itself)
};

}  // namespace primus::train
