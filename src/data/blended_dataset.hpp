// Megatron's BlendedDataset: mixes several GPT datasets with weights. For each blended sample k
// the dataset whose achieved count lags its weight the most (w_d·max(k,1) − count_d, lowest index
// on ties) is chosen; the dataset index (int16) and dataset sample index (int64) are cached as
// {md5}-BlendedDataset-{split}-{dataset_index,dataset_sample_index}.npy like Megatron's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/gpt_dataset.hpp"
#include "data/sample_dataset.hpp"

namespace primus::data {

// Builds the two blending indices for `size` samples with normalised `weights`.
void build_blending_indices(const std::vector<double>& weights, std::int64_t size,
                            std::vector<std::int16_t>& dataset_index,
                            std::vector<std::int64_t>& dataset_sample_index);

class BlendedDataset final : public SampleDataset {
 public:
  // weights are normalised again here, as Megatron does; path_to_cache may be empty (no cache).
  BlendedDataset(std::vector<std::shared_ptr<GPTDataset>> datasets, std::vector<double> weights,
                 std::int64_t size, const std::string& path_to_cache);

  std::int64_t size() const override { return size_; }
  std::int64_t sequence_length() const override { return datasets_.front()->sequence_length(); }
  void get(std::int64_t index, const SampleBuffers& out) const override;

  const std::string& unique_description() const { return description_; }
  const std::string& unique_description_hash() const { return hash_; }
  std::span<const std::int16_t> dataset_index() const { return dataset_index_; }
  std::span<const std::int64_t> dataset_sample_index() const { return dataset_sample_index_; }
  const std::vector<std::shared_ptr<GPTDataset>>& datasets() const { return datasets_; }

 private:
  std::vector<std::shared_ptr<GPTDataset>> datasets_;
  std::vector<double> weights_;
  std::int64_t size_;
  std::string description_;
  std::string hash_;
  std::vector<std::int16_t> dataset_index_;
  std::vector<std::int64_t> dataset_sample_index_;
};

}  // namespace primus::data
