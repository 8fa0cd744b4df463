// A Hugging Face tokenizer.json (+ tokenizer_config.json for bos/eos/pad) run natively:
// added tokens → normalizer → pre-tokenizer → BPE model → post-processor (TemplateProcessing,
// ByteLevel, Sequence), and the declared decoder for decode(). Covers the byte-level BPE files of
// Llama 3 / Qwen2.5 / DeepSeek V3 and the SentencePiece-converted BPE files of Llama 2 / Mistral /
// Mixtral. Hand-written: no Debian package provides HF tokenizers for C++; ids are checked
// against the JS port @lenml/tokenizers in tests/data/tokenizer_test.cpp.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "data/tokenizer/added_vocabulary.hpp"
#include "data/tokenizer/bpe_model.hpp"
#include "data/tokenizer/decoder.hpp"
#include "data/tokenizer/normalizer.hpp"
#include "data/tokenizer/pre_tokenizer.hpp"
#include "data/tokenizer/tokenizer.hpp"

namespace primus::data {

class HfTokenizer final : public Tokenizer {
 public:
  // tokenizer_json: path of tokenizer.json; tokenizer_config.json is read from the same folder
  // when present.
  explicit HfTokenizer(const std::string& tokenizer_json);
  ~HfTokenizer() override;

  void encode(std::string_view text, std::vector<std::int32_t>& out, bool add_special_tokens) const override;
  using Tokenizer::encode;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const override;
  std::int64_t vocab_size() const override { return vocab_size_; }
  std::int32_t eod() const override;
  std::optional<std::int32_t> bos() const override { return bos_; }
  std::optional<std::int32_t> pad() const override { return pad_; }
  std::optional<std::int32_t> eos() const { return eos_; }
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  const std::string& path() const { return path_; }

 private:
  void encode_plain(std::string_view text, bool at_start, std::vector<std::int32_t>& out) const;
  void post_process(std::vector<std::int32_t>& ids, std::size_t first) const;

  std::string path_;
  tok::AddedVocabulary added_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::Decoder> decoder_;
  // TemplateProcessing "single": ids before and after the sequence.
  std::vector<std::int32_t> prefix_ids_, suffix_ids_;
  std::int64_t vocab_size_ = 0;
  std::optional<std::int32_t> bos_, eos_, pad_;
  bool clean_up_spaces_ = false;  // tokenizer_config.json clean_up_tokenization_spaces
};

}  // namespace primus::data
