// tokenizer.json "added_tokens" (special tokens such as <s>, <|begin_of_text|>, and extra
// non-special ones): found in the text before the model runs, leftmost-longest first, honouring
// lstrip / rstrip / single_word; those marked "normalized" are matched in normalized text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A piece of text: either a plain stretch (token < 0) or one added token.
struct Segment {
  std::string_view text;
  std::int32_t token = -1;
  std::size_t offset = 0;  // byte offset in the text that was split
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // file: named in errors.
  AddedVocabulary(const nlohmann::json& added_tokens, const std::string& file);

  // Splits `text` on the tokens whose `normalized` flag equals `normalized`.
  void split(std::string_view text, bool normalized, std::vector<Segment>& out) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(std::int32_t id) const;
  std::optional<std::int32_t> id_of(std::string_view content) const;
  bool has_normalized() const { return has_normalized_; }

 private:
  std::vector<AddedToken> tokens_;
  // Per first byte and normalized flag: token indices, longest content first.
  std::vector<std::vector<std::size_t>> by_first_byte_[2];
  bool has_normalized_ = false;
};

}  // namespace primus::data::tok
