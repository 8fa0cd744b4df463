// tokenizer.json "pre_tokenizer": Sequence, Split (regex or string; Removed / Isolated /
// MergedWithPrevious / MergedWithNext / Contiguous; invert), ByteLevel (GPT-2 regex optional,
// bytes mapped to printable characters), Metaspace (▁ replacement, prepend_scheme, split), Digits,
// Whitespace and WhitespaceSplit. Others are a clear error naming the file and type.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

struct Piece {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original text (Metaspace "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their pre-tokenized sub-pieces, in order.
  virtual void apply(std::vector<Piece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec, const std::string& file);

}  // namespace primus::data::tok
