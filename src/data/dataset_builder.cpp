#include "data/dataset_builder.hpp"

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/message_text.hpp"
#include "data/blended_dataset.hpp"
#include "data/mock_dataset.hpp"

namespace primus::data {
namespace {

using Datasets = std::array<std::shared_ptr<SampleDataset>, 3>;

// Mid-level datasets of one prefix for every split present in `matrix`.
std::array<std::shared_ptr<GPTDataset>, 3> build_splits(
    const std::shared_ptr<const LowLevelDataset>& low, const std::optional<std::string>& path,
    const SplitMatrix& matrix, const std::array<std::optional<std::int64_t>, 3>& sizes,
    const GPTDatasetConfig& config) {
  std::array<std::shared_ptr<GPTDataset>, 3> out;
  const auto n = static_cast<std::int64_t>(low->sequence_lengths().size());
  for (std::size_t i = 0; i < 3; ++i) {
    if (!matrix[i]) continue;
    const auto [beg, end] = split_range(*matrix[i], n);
    if (end <= beg && i != 0) continue;  // e.g. "969,30,1" on a few hundred documents: no test data
    if (end <= beg) {
      fail("{}: the train split holds no sequences ({} sequences in the dataset; check split)",
           path ? *path : std::string("mock data"), n);
    }
    std::vector<std::int32_t> indices;
    for (std::int64_t k = beg; k < end; ++k) indices.push_back(static_cast<std::int32_t>(k));
    out[i] = std::make_shared<GPTDataset>(low, path, std::move(indices), sizes[i],
                                          kAllSplits[i], config);
  }
  return out;
}

std::array<std::optional<std::int64_t>, 3> sizes_for(double weight,
                                                     const std::array<std::optional<std::int64_t>, 3>& target,
                                                     double surplus) {
  std::array<std::optional<std::int64_t>, 3> out;
  for (std::size_t i = 0; i < 3; ++i) {
    if (!target[i]) continue;
    const double base = std::ceil(static_cast<double>(*target[i]) * weight);
    out[i] = static_cast<std::int64_t>(std::ceil(base * (1.0 + surplus)));
  }
  return out;
}

}  // namespace

Blend parse_blend(const std::vector<std::string>& data_path) {
  Blend blend;
  if (data_path.empty()) fail("data_path: empty list");
  if (data_path.size() == 1) {
    blend.prefixes = data_path;
    return blend;
  }
  if (data_path.size() % 2 != 0) {
    fail("data_path: expected 'weight path' pairs, got {} entries", data_path.size());
  }
  for (std::size_t i = 0; i < data_path.size(); i += 2) {
    char* end = nullptr;
    const double w = std::strtod(data_path[i].c_str(), &end);
    if (end == data_path[i].c_str() || *end != '\0' || !std::isfinite(w) || w < 0) {
      fail("data_path: '{}' is not a weight (a finite number, not negative, before each path)", printable(data_path[i]));
    }
    blend.weights.push_back(w);
    blend.prefixes.push_back(data_path[i + 1]);
  }
  return blend;
}

std::array<std::shared_ptr<SampleDataset>, 3> build_gpt_datasets(const GPTDatasetsSpec& spec) {
  Datasets result;
  GPTDatasetConfig config = spec.config;
  const bool per_split = spec.blend_per_split[0] || spec.blend_per_split[1] || spec.blend_per_split[2];
  if (spec.mock || (!spec.blend && !per_split)) {
    config.mock = true;
    config.split = "1,1,1";
    config.split_matrix = split_matrix_from_vector(parse_and_normalize_split("1,1,1"));
    auto low = std::make_shared<MockLowLevelDataset>(spec.vocab_size, config.eod_id);
    auto mids = build_splits(low, std::nullopt, *config.split_matrix, spec.num_samples, config);
    for (std::size_t i = 0; i < 3; ++i) result[i] = mids[i];
    return result;
  }
  if (spec.blend && per_split) fail("data_path and per-split data paths are mutually exclusive");

  std::map<std::string, std::shared_ptr<const LowLevelDataset>> opened;
  auto open = [&](const std::string& prefix) {
    auto it = opened.find(prefix);
    if (it != opened.end()) return it->second;
    std::shared_ptr<const LowLevelDataset> low = std::make_shared<IndexedLowLevelDataset>(prefix);
    opened.emplace(prefix, low);
    return low;
  };
  // One blend over the given split matrix; returns the top-level dataset per split.
  auto build_blend = [&](const Blend& blend, const SplitMatrix& matrix,
                         const std::array<std::optional<std::int64_t>, 3>& sizes) {
    Datasets out;
    if (!blend.weights.empty() && blend.weights.size() != blend.prefixes.size()) {
      fail("data path: {} weights for {} paths", blend.weights.size(), blend.prefixes.size());
    }
    if (blend.prefixes.size() == 1 && blend.weights.empty()) {
      auto mids = build_splits(open(blend.prefixes[0]), blend.prefixes[0], matrix, sizes, config);
      for (std::size_t i = 0; i < 3; ++i) out[i] = mids[i];
      return out;
    }
    std::vector<std::array<std::shared_ptr<GPTDataset>, 3>> mids;
    std::vector<double> weights;
    if (!blend.weights.empty()) {
      for (double w : blend.weights) {
        if (!(w > 0)) fail("data path: weight {} must be positive", w);
      }
      weights = normalize_weights(blend.weights);
    }
    for (std::size_t d = 0; d < blend.prefixes.size(); ++d) {
      std::array<std::optional<std::int64_t>, 3> sizes_d;
      if (!weights.empty()) sizes_d = sizes_for(weights[d], sizes, spec.mid_level_dataset_surplus);
      mids.push_back(build_splits(open(blend.prefixes[d]), blend.prefixes[d], matrix, sizes_d, config));
    }
    for (std::size_t i = 0; i < 3; ++i) {
      if (!matrix[i]) continue;
      std::vector<std::shared_ptr<GPTDataset>> parts;
      for (std::size_t d = 0; d < mids.size(); ++d) {
        if (!mids[d][i]) {
          fail("{}: the {} split of this blended dataset holds no sequences (too few documents for the split)",
               blend.prefixes[d], split_name(kAllSplits[i]));
        }
        parts.push_back(mids[d][i]);
      }
      std::vector<double> w_i;
      std::int64_t size_i = 0;
      if (!weights.empty()) {
        if (!sizes[i]) fail("data path weights need a sample count for the {} split", split_name(kAllSplits[i]));
        w_i = weights;
        for (double w : weights) size_i += static_cast<std::int64_t>(std::ceil(static_cast<double>(*sizes[i]) * w));
      } else {
        std::int64_t total = 0;
        for (auto& p : parts) {
          w_i.push_back(static_cast<double>(p->size()));
          total += p->size();
        }
        if (!sizes[i]) fail("an unweighted blend needs a sample count for the {} split", split_name(kAllSplits[i]));
        size_i = std::min(*sizes[i], total);
      }
      out[i] = std::make_shared<BlendedDataset>(parts, w_i, size_i, config.path_to_cache);
    }
    return out;
  };

  if (spec.blend) {
    config.split = spec.split;
    config.split_matrix = split_matrix_from_vector(parse_and_normalize_split(spec.split));
    return build_blend(*spec.blend, *config.split_matrix, spec.num_samples);
  }
  config.split = std::nullopt;
  config.split_matrix = std::nullopt;
  for (std::size_t i = 0; i < 3; ++i) {
    if (!spec.blend_per_split[i]) continue;
    SplitMatrix spoof;
    spoof[i] = std::make_pair(0.0, 1.0);
    std::array<std::optional<std::int64_t>, 3> sizes{std::int64_t{0}, std::int64_t{0}, std::int64_t{0}};
    sizes[i] = spec.num_samples[i];
    result[i] = build_blend(*spec.blend_per_split[i], spoof, sizes)[i];
  }
  return result;
}

}  // namespace primus::data
