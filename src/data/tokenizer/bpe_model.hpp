// The BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE", ...}): vocabulary,
// ranked merges (as "a b" strings or [a, b] pairs), unk token, byte fallback (<0xXX> tokens for
// characters outside the vocabulary, as SentencePiece-converted Llama 2 / Mistral files use),
// fuse_unk and ignore_merges. Merging is the standard lowest-rank-first, leftmost-first loop
// over a linked list of symbols with a priority queue, so that whole documents (Mistral has no
// pre-tokenizer) encode in O(n log n). Hand-written: Debian has no C++ HF tokenizers library.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class BpeModel {
 public:
  // `model` is the "model" object of tokenizer.json; `file` names it in errors.
  BpeModel(const nlohmann::json& model, const std::string& file);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<std::int32_t>& out) const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  // nullptr for ids the model does not know.
  const std::string* id_to_token(std::int32_t id) const;
  std::int32_t max_id() const { return static_cast<std::int32_t>(tokens_.size()) - 1; }

 private:
  void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;

  std::string file_;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> vocab_;
  std::vector<std::string> tokens_;  // by id ("" for holes)
  std::vector<bool> has_token_;
  struct Merge {
    std::int32_t rank;
    std::int32_t new_id;
  };
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::optional<std::int32_t> unk_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  bool split_before_metaspace_ = false;  // see the constructor
  std::array<std::int32_t, 256> byte_ids_{};
};

}  // namespace primus::data::tok
