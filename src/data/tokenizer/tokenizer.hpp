// What preprocessing and training need from a tokenizer (Megatron's MegatronTokenizer surface):
// text → ids, ids → text, vocabulary size, and the special ids (eod, bos, pad).
// Implementations: HfTokenizer (tokenizer.json) and NullTokenizer. Encoding is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace primus::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Appends the ids of `text`; add_special_tokens applies the post-processor (e.g. BOS), as
  // Hugging Face's tokenizer(text) and Megatron's tokenize() do.
  virtual void encode(std::string_view text, std::vector<std::int32_t>& out,
                      bool add_special_tokens) const = 0;
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = false) const {
    std::vector<std::int32_t> out;
    encode(text, out, add_special_tokens);
    return out;
  }
  virtual std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const = 0;
  // Megatron's vocab_size (for HF: len(tokenizer), added tokens included).
  virtual std::int64_t vocab_size() const = 0;
  // End-of-document id (HF: eos token), appended by preprocess --append-eod.
  virtual std::int32_t eod() const = 0;
  virtual std::optional<std::int32_t> bos() const = 0;
  virtual std::optional<std::int32_t> pad() const = 0;
};

}  // namespace primus::data
