#include "train/training_data.hpp"

#include "core/error.hpp"
#include "data/dataset_builder.hpp"
#include "data/tokenizer/tokenizer_factory.hpp"

namespace primus::train {

std::array<std::int64_t, 3> samples_per_split(const config::Args& a) {
  const std::int64_t gbs = a.global_batch_size;
  const std::int64_t iters = a.train_iters.value_or(0);
  const std::int64_t eval = a.eval_iters;
  return {iters * gbs, eval > 0 ? (iters / a.eval_interval + 1) * eval * gbs : 0, eval * gbs};
}

TrainingData build_training_data(const config::Args& a) {
  if (!a.train_iters) fail("train_samples-based runs are not supported by this engine yet; give train_iters");
  if (a.reset_position_ids)
    fail("reset_position_ids is not supported by this engine's model yet (positions restart at every sample)");
  TrainingData out;
  const std::string model = a.tokenizer_model.value_or("");
  out.tokenizer = data::make_tokenizer(a.tokenizer_type.value_or("NullTokenizer"), model, a.vocab_size);
  out.vocab_size = out.tokenizer->vocab_size();

  data::GPTDatasetsSpec spec;
  spec.mock = a.mock_data;
  if (a.data_path) spec.blend = data::parse_blend(*a.data_path);
  const std::optional<std::vector<std::string>>* per_split[3] = {&a.train_data_path, &a.valid_data_path, &a.test_data_path};
  for (size_t i = 0; i < 3; ++i)
    if (*per_split[i]) spec.blend_per_split[i] = data::parse_blend(**per_split[i]);
  if (!spec.mock && !spec.blend && !spec.blend_per_split[0])
    fail("no training data: set mock_data: true, data_path (with split) or train_data_path");
  if (a.split) spec.split = *a.split;
  auto counts = samples_per_split(a);
  for (size_t i = 0; i < 3; ++i) spec.num_samples[i] = counts[i];
  spec.config.sequence_length = a.seq_length;
  spec.config.random_seed = static_cast<std::uint32_t>(a.seed);
  spec.config.tokenizer_identity = data::tokenizer_identity(a.tokenizer_type.value_or("NullTokenizer"), model, a.vocab_size);
  spec.config.path_to_cache = a.data_cache_path.value_or("");
  spec.config.eod_id = out.tokenizer->eod();
  if (auto pad = out.tokenizer->pad()) spec.config.pad_id = *pad;
  spec.config.eod_mask_loss = a.eod_mask_loss;
  spec.vocab_size = out.vocab_size;
  out.datasets = data::build_gpt_datasets(spec);
  if (!out.datasets[0]) fail("the training split is empty: check split '{}' and the data paths", spec.split);
  return out;
}

std::int64_t first_sample_of(std::int64_t consumed, std::int64_t micro_batch_index, std::int64_t micro_batch,
                             std::int64_t data_parallel_size, std::int64_t data_parallel_rank) {
  return consumed + micro_batch_index * micro_batch * data_parallel_size + data_parallel_rank * micro_batch;
}

MicroBatchLoader::MicroBatchLoader(const data::SampleDataset& dataset, std::int64_t micro_batch, bool wrap,
                                   std::int64_t vocab_size, std::string split_name)
    : dataset_(dataset),
      micro_batch_(micro_batch),
      wrap_(wrap),
      vocab_size_(vocab_size),
      split_name_(std::move(split_name)),
      positions_(static_cast<size_t>(dataset.sequence_length())) {}

void MicroBatchLoader::load(std::int64_t first_sample, std::int32_t* tokens, std::int32_t* labels,
                            float* loss_mask) const {
  const std::int64_t seq = dataset_.sequence_length(), n = dataset_.size();
  for (std::int64_t i = 0; i < micro_batch_; ++i) {
    std::int64_t index = first_sample + i;
    if (index >= n) {
      if (!wrap_) fail("internal: sample {} requested from a split of {} samples", index, n);
      index %= n;
    }
    std::int32_t* t = tokens + i * seq;
    std::int32_t* l = labels + i * seq;
    dataset_.get(index, data::SampleBuffers{t, l, loss_mask + i * seq, positions_.data()});
    auto outside = [this](std::int32_t id) { return id < 0 || id >= vocab_size_; };
    bool bad = false;
    for (std::int64_t k = 0; k < seq; ++k) bad = bad || outside(t[k]) || outside(l[k]);
    if (!bad) continue;
    std::int32_t id = 0;
    for (std::int64_t k = seq - 1; k >= 0; --k)
      if (outside(t[k]) || outside(l[k])) id = outside(t[k]) ? t[k] : l[k];
    fail("{} data, sample {}: token id {} is outside the vocabulary of {} tokens; was the data tokenized with "
           "another tokenizer? (check tokenizer_type, tokenizer_model and vocab_size)",
           split_name_, index, id, vocab_size_);
  }
}

}  // namespace primus::train
