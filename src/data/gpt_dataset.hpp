// Megatron's GPTDataset (megatron-formats.md §2): document, sample and shuffle indices built
// exactly as Megatron builds them (numpy legacy RNG reproduced), cached as .npy files under
// Megatron's names ({md5}-GPTDataset-{split}-*.npy) and reused when present, and samples of
// seq_length tokens + labels + loss mask + position ids read from those indices.
// Hand-written from the format description; no upstream code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/low_level_dataset.hpp"
#include "data/numpy_random.hpp"
#include "data/sample_dataset.hpp"
#include "data/split.hpp"

namespace primus::data {

struct GPTDatasetConfig {
  std::int64_t sequence_length = 0;
  std::uint32_t random_seed = 1234;
  // The split string as given ("969,30,1"); nullopt with per-split paths (description: null).
  std::optional<std::string> split;
  std::optional<SplitMatrix> split_matrix;
  // The tokenizer's identity in the description (see tokenizer_identity() in tokenizer/).
  nlohmann::ordered_json tokenizer_identity;
  // Cache folder; empty → Megatron's default PREFIX/cache/GPTDataset_indices (real data only).
  std::string path_to_cache;
  std::int32_t eod_id = 0;
  std::int32_t pad_id = -1;  // Megatron's _PAD_TOKEN_ID when the tokenizer has no pad
  bool reset_position_ids = false;
  bool eod_mask_loss = false;
  bool drop_last_partial_validation_sequence = true;
  bool add_extra_token_to_sequence = true;
  bool mock = false;
};

// Index construction, exposed for tests and for the numpy reference comparison.
std::vector<std::int32_t> build_document_index(std::span<const std::int32_t> documents,
                                               std::int64_t num_epochs, NumpyRandomState& rng,
                                               bool separate_final_epoch);
// Flattened [n+1, 2] sample index.
std::vector<std::int64_t> build_sample_index(std::span<const std::int32_t> sequence_lengths,
                                             std::span<const std::int32_t> document_index,
                                             std::int64_t sequence_length,
                                             std::int64_t num_epochs,
                                             std::int64_t tokens_per_epoch,
                                             bool drop_last_partial_sequence,
                                             int add_extra_token);
std::vector<std::int64_t> build_shuffle_index(std::int64_t num_samples, std::int64_t total_size,
                                              NumpyRandomState& rng);

class GPTDataset final : public SampleDataset {
 public:
  // `indices`: the sequence ids of this split. num_samples: nullopt = one epoch.
  GPTDataset(std::shared_ptr<const LowLevelDataset> dataset, std::optional<std::string> dataset_path,
             std::vector<std::int32_t> indices, std::optional<std::int64_t> num_samples,
             Split split, GPTDatasetConfig config);

  std::int64_t size() const override;
  std::int64_t sequence_length() const override { return config_.sequence_length; }
  void get(std::int64_t index, const SampleBuffers& out) const override;

  // Megatron's unique_identifiers / description / md5 (names the cache files).
  const nlohmann::ordered_json& unique_identifiers() const { return identifiers_; }
  const std::string& unique_description() const { return description_; }
  const std::string& unique_description_hash() const { return hash_; }
  Split split() const { return split_; }
  std::optional<std::int64_t> num_samples() const { return num_samples_; }
  bool built_anew() const { return built_anew_; }  // false when loaded from the cache
  std::int64_t num_epochs() const { return num_epochs_; }
  // Paths of the cache files (empty when not cached).
  std::string cache_file(const std::string& affix) const;

  std::span<const std::int32_t> document_index() const { return document_index_; }
  std::span<const std::int64_t> sample_index() const { return sample_index_; }
  std::span<const std::int64_t> shuffle_index() const { return shuffle_index_; }

 private:
  void build_or_load();
  void validate_loaded() const;

  std::shared_ptr<const LowLevelDataset> dataset_;
  std::optional<std::string> dataset_path_;
  std::vector<std::int32_t> indices_;
  std::optional<std::int64_t> num_samples_;
  Split split_;
  GPTDatasetConfig config_;
  nlohmann::ordered_json identifiers_;
  std::string description_;
  std::string hash_;
  std::string cache_dir_;
  bool built_anew_ = false;
  std::int64_t num_epochs_ = 0;
  std::vector<std::int32_t> document_index_;
  std::vector<std::int64_t> sample_index_;
  std::vector<std::int64_t> shuffle_index_;
};

}  // namespace primus::data
