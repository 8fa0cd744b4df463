#include "data/blended_dataset.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "data/md5.hpp"
#include "data/npy_file.hpp"
#include "data/python_json.hpp"

namespace primus::data {
namespace fs = std::filesystem;

void build_blending_indices(const std::vector<double>& weights, std::int64_t size,
                            std::vector<std::int16_t>& dataset_index,
                            std::vector<std::int64_t>& dataset_sample_index) {
  dataset_index.assign(static_cast<std::size_t>(size), 0);
  dataset_sample_index.assign(static_cast<std::size_t>(size), 0);
  std::vector<std::int64_t> counts(weights.size(), 0);
  for (std::int64_t k = 0; k < size; ++k) {
    const double position = std::max(static_cast<double>(k), 1.0);
    std::size_t best = 0;
    double best_error = weights[0] * position - static_cast<double>(counts[0]);
    for (std::size_t d = 1; d < weights.size(); ++d) {
      const double error = weights[d] * position - static_cast<double>(counts[d]);
      if (error > best_error) {
        best_error = error;
        best = d;
      }
    }
    dataset_index[static_cast<std::size_t>(k)] = static_cast<std::int16_t>(best);
    dataset_sample_index[static_cast<std::size_t>(k)] = counts[best];
    ++counts[best];
  }
}

BlendedDataset::BlendedDataset(std::vector<std::shared_ptr<GPTDataset>> datasets,
                               std::vector<double> weights, std::int64_t size,
                               const std::string& path_to_cache)
    : datasets_(std::move(datasets)), size_(size) {
  if (datasets_.empty() || datasets_.size() != weights.size()) {
    fail("blended dataset: {} datasets but {} weights", datasets_.size(), weights.size());
  }
  if (datasets_.size() >= 32767) fail("blended dataset: too many datasets ({})", datasets_.size());
  for (double w : weights) {
    if (!(w > 0)) fail("blended dataset: weights must be positive (got {})", w);
  }
  weights_ = normalize_weights(weights);
  const Split split = datasets_.front()->split();
  nlohmann::ordered_json ids;
  ids["class"] = "BlendedDataset";
  ids["datasets"] = nlohmann::ordered_json::array();
  for (const auto& d : datasets_) ids["datasets"].push_back(d->unique_identifiers());
  ids["split"] = std::string(split_name(split));
  ids["weights"] = weights_;
  ids["size"] = size_;
  description_ = python_json_dumps(ids);
  hash_ = md5_hex(description_);

  auto path = [&](const std::string& affix) {
    return (fs::path(path_to_cache) /
            (hash_ + "-BlendedDataset-" + std::string(split_name(split)) + "-" + affix))
        .string();
  };
  const bool hit = !path_to_cache.empty() && fs::is_regular_file(path("description.txt")) &&
                   fs::is_regular_file(path("dataset_index.npy")) &&
                   fs::is_regular_file(path("dataset_sample_index.npy"));
  if (hit) {
    const auto di = read_npy(path("dataset_index.npy"));
    const auto dsi = read_npy(path("dataset_sample_index.npy"));
    if (di.size() != size_ || dsi.size() != size_) {
      fail("{}: holds {} entries, expected {} (delete the cache files to rebuild them)",
           path("dataset_index.npy"), di.size(), size_);
    }
    const auto a = di.as_int64();
    dataset_index_.assign(a.begin(), a.end());
    dataset_sample_index_ = dsi.as_int64();
  } else {
    build_blending_indices(weights_, size_, dataset_index_, dataset_sample_index_);
  }
  std::vector<std::int64_t> used(datasets_.size(), 0);
  for (std::size_t k = 0; k < dataset_index_.size(); ++k) {
    const auto d = dataset_index_[k];
    if (d < 0 || static_cast<std::size_t>(d) >= datasets_.size()) {
      fail("{}: dataset id {} out of range", path("dataset_index.npy"), d);
    }
    used[static_cast<std::size_t>(d)] = std::max(used[static_cast<std::size_t>(d)], dataset_sample_index_[k] + 1);
  }
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    if (used[d] > datasets_[d]->size()) {
      fail("the {} blend oversamples dataset {} ({}): {} samples requested, it has {}",
           split_name(split), d, datasets_[d]->unique_identifiers().value("dataset_path", std::string("?")),
           used[d], datasets_[d]->size());
    }
  }
  if (!hit && !path_to_cache.empty()) {
    std::error_code ec;
    fs::create_directories(path_to_cache, ec);
    if (ec) fail("{}: cannot create the data cache folder: {}", path_to_cache, ec.message());
    const std::string desc = path("description.txt");
    io::write_file_atomically(desc, description_, /*durable=*/false);  // ranks may race: unique temporaries
    write_npy(path("dataset_index.npy"), dataset_index_, {size_});
    write_npy(path("dataset_sample_index.npy"), dataset_sample_index_, {size_});
  }
}

void BlendedDataset::get(std::int64_t index, const SampleBuffers& out) const {
  if (index < 0 || index >= size_) {
    fail("blended dataset: sample {} out of range [0, {})", index, size_);
  }
  const auto k = static_cast<std::size_t>(index);
  datasets_[static_cast<std::size_t>(dataset_index_[k])]->get(dataset_sample_index_[k], out);
}

}  // namespace primus::data
