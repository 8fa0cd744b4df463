// Megatron's NullTokenizer (legacy megatron/training/tokenizer: _NullTokenizer(vocab_size)):
// "text" is space-separated ids; eod = vocab_size; vocab_size() = vocab_size + 1.
#pragma once

#include "data/tokenizer/tokenizer.hpp"

namespace primus::data {

class NullTokenizer final : public Tokenizer {
 public:
  explicit NullTokenizer(std::int64_t vocab_size);
  void encode(std::string_view text, std::vector<std::int32_t>& out, bool add_special_tokens) const override;
  using Tokenizer::encode;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const override;
  std::int64_t vocab_size() const override { return vocab_ + 1; }
  std::int32_t eod() const override { return static_cast<std::int32_t>(vocab_); }
  std::optional<std::int32_t> bos() const override { return std::nullopt; }
  std::optional<std::int32_t> pad() const override { return std::nullopt; }

 private:
  std::int64_t vocab_;
};

}  // namespace primus::data
