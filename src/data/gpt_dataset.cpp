#include "data/gpt_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <unistd.h>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "data/md5.hpp"
#include "data/npy_file.hpp"
#include "data/python_json.hpp"

namespace primus::data {
namespace fs = std::filesystem;

std::vector<std::int32_t> build_document_index(std::span<const std::int32_t> documents,
                                               std::int64_t num_epochs, NumpyRandomState& rng,
                                               bool separate_final_epoch) {
  if (!separate_final_epoch || num_epochs == 1) {
    std::vector<std::int32_t> index;
    index.reserve(documents.size() * static_cast<std::size_t>(num_epochs));
    for (std::int64_t e = 0; e < num_epochs; ++e) index.insert(index.end(), documents.begin(), documents.end());
    rng.shuffle(std::span<std::int32_t>(index));
    return index;
  }
  // All but the last epoch shuffled together, then the last epoch on its own (same generator).
  auto first = build_document_index(documents, num_epochs - 1, rng, false);
  auto last = build_document_index(documents, 1, rng, false);
  first.insert(first.end(), last.begin(), last.end());
  return first;
}

std::vector<std::int64_t> build_sample_index(std::span<const std::int32_t> sequence_lengths,
                                             std::span<const std::int32_t> document_index,
                                             std::int64_t sequence_length,
                                             std::int64_t num_epochs,
                                             std::int64_t tokens_per_epoch,
                                             bool drop_last_partial_sequence,
                                             int add_extra_token) {
  if (sequence_length <= 1) fail("sequence length must be > 1 (got {})", sequence_length);
  const std::int64_t total = num_epochs * tokens_per_epoch - add_extra_token;
  std::int64_t num_samples;
  if (drop_last_partial_sequence) {
    num_samples = total / sequence_length;
  } else {
    // Megatron computes this ceil in single precision; so do we, to get the same count.
    num_samples = static_cast<std::int64_t>(
        std::ceil(static_cast<float>(total) / static_cast<float>(sequence_length)));
  }
  std::vector<std::int64_t> out(static_cast<std::size_t>(2 * (num_samples + 1)));
  std::int64_t doc_pos = 0;   // position in the document index
  std::int64_t doc_offset = 0;  // token offset inside that document
  out[0] = 0;
  out[1] = 0;
  const auto last_pos = static_cast<std::int64_t>(document_index.size()) - 1;
  for (std::int64_t s = 1; s <= num_samples; ++s) {
    // Each sample consumes sequence_length (+1 shared) tokens, walking across documents.
    std::int64_t remaining = sequence_length + add_extra_token;
    while (remaining != 0) {
      const std::int64_t doc_len =
          sequence_lengths[static_cast<std::size_t>(document_index[static_cast<std::size_t>(doc_pos)])] -
          doc_offset;
      remaining -= doc_len;
      if (remaining <= 0) {
        doc_offset += remaining + doc_len - add_extra_token;
        remaining = 0;
      } else if (doc_pos == last_pos) {
        // Only reachable for the final partial sample (drop_last_partial_sequence == false).
        doc_offset = sequence_lengths[static_cast<std::size_t>(document_index[static_cast<std::size_t>(doc_pos)])] -
                     add_extra_token;
        break;
      } else {
        ++doc_pos;
        doc_offset = 0;
      }
    }
    out[static_cast<std::size_t>(2 * s)] = doc_pos;
    out[static_cast<std::size_t>(2 * s + 1)] = doc_offset;
  }
  return out;
}

std::vector<std::int64_t> build_shuffle_index(std::int64_t num_samples, std::int64_t total_size,
                                              NumpyRandomState& rng) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(total_size));
  for (std::int64_t i = 0; i < total_size; ++i) out[static_cast<std::size_t>(i)] = i;
  rng.shuffle(std::span<std::int64_t>(out.data(), static_cast<std::size_t>(num_samples)));
  if (num_samples != total_size) {
    rng.shuffle(std::span<std::int64_t>(out.data() + num_samples,
                                        static_cast<std::size_t>(total_size - num_samples)));
  }
  return out;
}

GPTDataset::GPTDataset(std::shared_ptr<const LowLevelDataset> dataset,
                       std::optional<std::string> dataset_path, std::vector<std::int32_t> indices,
                       std::optional<std::int64_t> num_samples, Split split, GPTDatasetConfig config)
    : dataset_(std::move(dataset)), dataset_path_(std::move(dataset_path)),
      indices_(std::move(indices)), num_samples_(num_samples), split_(split),
      config_(std::move(config)) {
  if (config_.sequence_length <= 1) {
    fail("seq_length must be > 1 for a GPT dataset (got {})", config_.sequence_length);
  }
  identifiers_["class"] = config_.mock ? "MockGPTDataset" : "GPTDataset";
  if (dataset_path_) identifiers_["dataset_path"] = *dataset_path_;
  else identifiers_["dataset_path"] = nullptr;
  if (num_samples_) identifiers_["num_samples"] = *num_samples_;
  else identifiers_["num_samples"] = nullptr;
  identifiers_["index_split"] = std::string(split_name(split_));
  identifiers_["random_seed"] = config_.random_seed;
  identifiers_["sequence_length"] = config_.sequence_length;
  if (config_.split) identifiers_["split"] = *config_.split;
  else identifiers_["split"] = nullptr;
  if (config_.split_matrix) identifiers_["split_matrix"] = split_matrix_json(*config_.split_matrix);
  else identifiers_["split_matrix"] = nullptr;
  identifiers_["tokenizer"] = config_.tokenizer_identity;
  description_ = python_json_dumps(identifiers_);
  hash_ = md5_hex(description_);

  cache_dir_ = config_.path_to_cache;
  if (cache_dir_.empty() && !config_.mock) {
    cache_dir_ = (fs::path(dataset_->path_prefix()) / "cache" / "GPTDataset_indices").string();
  }
  build_or_load();
}

std::string GPTDataset::cache_file(const std::string& affix) const {
  if (cache_dir_.empty()) return {};
  const std::string cls = config_.mock ? "MockGPTDataset" : "GPTDataset";
  return (fs::path(cache_dir_) /
          (hash_ + "-" + cls + "-" + std::string(split_name(split_)) + "-" + affix))
      .string();
}

void GPTDataset::build_or_load() {
  const auto lengths = dataset_->sequence_lengths();
  for (auto i : indices_) {
    if (i < 0 || static_cast<std::size_t>(i) >= lengths.size()) {
      fail("{}: split index {} out of range (dataset has {} sequences)", dataset_->path_prefix(), i,
           lengths.size());
    }
  }
  std::int64_t tokens_per_epoch = 0;
  for (auto i : indices_) tokens_per_epoch += lengths[static_cast<std::size_t>(i)];
  const int extra = config_.add_extra_token_to_sequence ? 1 : 0;
  const std::int64_t seq = config_.sequence_length;
  const std::string where = config_.mock ? std::string("mock data") : dataset_->path_prefix();
  if (tokens_per_epoch <= 1) {
    fail("{}: the {} split holds {} tokens in {} sequences, too few to build samples of {} "
         "tokens (check split and data_path)",
         where, split_name(split_), tokens_per_epoch, indices_.size(), seq);
  }
  // Epochs: smallest E with E·T >= num_samples·seq + extra.
  std::int64_t epochs = 1;
  if (num_samples_) {
    const std::int64_t requested = *num_samples_ * seq + extra;
    epochs = std::max<std::int64_t>(1, (requested + tokens_per_epoch - 1) / tokens_per_epoch);
  }
  num_epochs_ = epochs;

  const std::string desc_path = cache_file("description.txt");
  const std::string doc_path = cache_file("document_index.npy");
  const std::string sample_path = cache_file("sample_index.npy");
  const std::string shuffle_path = cache_file("shuffle_index.npy");
  const bool hit = !cache_dir_.empty() && fs::is_regular_file(desc_path) &&
                   fs::is_regular_file(doc_path) && fs::is_regular_file(sample_path) &&
                   fs::is_regular_file(shuffle_path);
  if (hit) {
    const auto doc = read_npy(doc_path);
    if (doc.shape.size() != 1 || doc.descr != "<i4") {
      fail("{}: expected a 1-D int32 array (delete the cache file to rebuild it)", doc_path);
    }
    const auto doc64 = doc.as_int64();
    document_index_.assign(doc64.begin(), doc64.end());
    const auto sample = read_npy(sample_path);
    if (sample.shape.size() != 2 || sample.shape[1] != 2) {
      fail("{}: expected an [n+1, 2] array (delete the cache file to rebuild it)", sample_path);
    }
    sample_index_ = sample.as_int64();
    const auto shuffle = read_npy(shuffle_path);
    if (shuffle.shape.size() != 1) {
      fail("{}: expected a 1-D array (delete the cache file to rebuild it)", shuffle_path);
    }
    shuffle_index_ = shuffle.as_int64();
    validate_loaded();
    built_anew_ = false;
    return;
  }

  bool separate = false;
  std::int64_t sans_final = 0;
  if (epochs > 1) {
    sans_final = ((epochs - 1) * tokens_per_epoch - extra) / seq;
    const std::int64_t from_final = *num_samples_ - sans_final;
    const std::int64_t per_epoch = (tokens_per_epoch - extra) / seq;
    if (from_final < 0 || from_final > per_epoch + 1) {
      fail("{}: inconsistent epoch arithmetic ({} samples from the final epoch of {})", where,
           from_final, per_epoch);
    }
    // Megatron: separate when from_final < int(0.80 * per_epoch), computed in float64.
    separate = from_final < static_cast<std::int64_t>(0.80 * static_cast<double>(per_epoch));
  }
  NumpyRandomState rng(config_.random_seed);
  document_index_ = build_document_index(indices_, epochs, rng, separate);
  const bool drop_last =
      split_ == Split::kValid ? config_.drop_last_partial_validation_sequence : true;
  sample_index_ = build_sample_index(lengths, document_index_, seq, epochs, tokens_per_epoch,
                                     drop_last, extra);
  const std::int64_t n = static_cast<std::int64_t>(sample_index_.size() / 2) - 1;
  shuffle_index_ = build_shuffle_index(separate ? sans_final : n, n, rng);
  built_anew_ = true;

  if (!cache_dir_.empty()) {
    std::error_code ec;
    fs::create_directories(cache_dir_, ec);
    if (ec) fail("{}: cannot create the data cache folder: {}", cache_dir_, ec.message());
    io::write_file_atomically(desc_path, description_, /*durable=*/false);  // ranks may race: unique temporaries
    write_npy(doc_path, document_index_, {static_cast<std::int64_t>(document_index_.size())});
    // Megatron's dtypes: int32 sample index unless values exceed it; uint32 shuffle index unless
    // the sample count reaches 2^32 - 1.
    std::int64_t sample_max = static_cast<std::int64_t>(document_index_.size());
    for (auto i : indices_) sample_max = std::max<std::int64_t>(sample_max, lengths[static_cast<std::size_t>(i)]);
    for (auto l : lengths) sample_max = std::max<std::int64_t>(sample_max, l);
    if (sample_max <= std::numeric_limits<std::int32_t>::max()) {
      std::vector<std::int32_t> s32(sample_index_.begin(), sample_index_.end());
      write_npy(sample_path, s32, {n + 1, 2});
    } else {
      write_npy(sample_path, sample_index_, {n + 1, 2});
    }
    if (n >= static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max()) - 1) {
      write_npy(shuffle_path, shuffle_index_, {n});
    } else {
      std::vector<std::uint32_t> u32(shuffle_index_.begin(), shuffle_index_.end());
      write_npy(shuffle_path, u32, {n});
    }
  }
}

void GPTDataset::validate_loaded() const {
  const auto lengths = dataset_->sequence_lengths();
  for (auto d : document_index_) {
    if (d < 0 || static_cast<std::size_t>(d) >= lengths.size()) {
      fail("{}: document id {} out of range for {} (delete the cache files to rebuild them)",
           cache_file("document_index.npy"), d, dataset_->path_prefix());
    }
  }
  const std::int64_t n = static_cast<std::int64_t>(sample_index_.size() / 2) - 1;
  for (std::size_t i = 0; i < sample_index_.size(); i += 2) {
    if (sample_index_[i] < 0 || sample_index_[i] >= static_cast<std::int64_t>(document_index_.size())) {
      fail("{}: entry {} points outside the document index (delete the cache files to rebuild them)",
           cache_file("sample_index.npy"), i / 2);
    }
  }
  for (auto s : shuffle_index_) {
    if (s < 0 || s >= n) {
      fail("{}: sample {} out of range [0, {}) (delete the cache files to rebuild them)",
           cache_file("shuffle_index.npy"), s, n);
    }
  }
}

std::int64_t GPTDataset::size() const {
  return static_cast<std::int64_t>(sample_index_.size() / 2) - 1;
}

void GPTDataset::get(std::int64_t index, const SampleBuffers& out) const {
  if (index < 0 || index >= static_cast<std::int64_t>(shuffle_index_.size())) {
    fail("GPT dataset ({} split): sample {} out of range [0, {})", split_name(split_), index,
         shuffle_index_.size());
  }
  const std::int64_t seq = config_.sequence_length;
  const int extra = config_.add_extra_token_to_sequence ? 1 : 0;
  const std::int64_t want = seq + extra;
  thread_local std::vector<std::int32_t> text;
  text.resize(static_cast<std::size_t>(want));
  const std::int64_t j = shuffle_index_[static_cast<std::size_t>(index)];
  const std::int64_t beg = sample_index_[static_cast<std::size_t>(2 * j)];
  const std::int64_t beg_off = sample_index_[static_cast<std::size_t>(2 * j + 1)];
  const std::int64_t end = sample_index_[static_cast<std::size_t>(2 * j + 2)];
  const std::int64_t end_off = sample_index_[static_cast<std::size_t>(2 * j + 3)];
  const auto lengths = dataset_->sequence_lengths();
  std::int64_t filled = 0;
  for (std::int64_t i = beg; i <= end; ++i) {
    const std::int32_t doc = document_index_[static_cast<std::size_t>(i)];
    const std::int64_t offset = i == beg ? beg_off : 0;
    std::int64_t length = i < end ? lengths[static_cast<std::size_t>(doc)] - offset
                                  : end_off + extra - offset;
    length = std::min(length, want - filled);
    if (length < 0) length = 0;
    dataset_->read(doc, offset, length, text.data() + filled);
    filled += length;
  }
  for (std::int64_t k = filled; k < want; ++k) text[static_cast<std::size_t>(k)] = config_.pad_id;

  for (std::int64_t k = 0; k < seq; ++k) {
    out.tokens[k] = text[static_cast<std::size_t>(k)];
    out.labels[k] = extra ? text[static_cast<std::size_t>(k + 1)]
                          : (k + 1 < seq ? text[static_cast<std::size_t>(k + 1)] : config_.pad_id);
  }
  std::int32_t position = 0;
  for (std::int64_t k = 0; k < seq; ++k) {
    const bool is_eod = out.tokens[k] == config_.eod_id;
    out.loss_mask[k] = (config_.eod_mask_loss && is_eod) ? 0.0f : 1.0f;
    if (out.labels[k] == config_.pad_id) out.loss_mask[k] = 0.0f;
    out.position_ids[k] = config_.reset_position_ids ? position : static_cast<std::int32_t>(k);
    ++position;
    if (config_.reset_position_ids && is_eod) position = 0;
  }
  for (std::int64_t k = 0; k < seq; ++k) {
    if (out.tokens[k] == config_.pad_id) out.tokens[k] = 0;
    if (out.labels[k] == config_.pad_id) out.labels[k] = 0;
  }
}

}  // namespace primus::data
