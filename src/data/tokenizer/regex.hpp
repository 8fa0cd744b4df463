// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that lists all non-overlapping matches
// of a string — what tokenizer.json "Split"/"Replace" patterns and the byte-level pre-tokenizer
// need. PCRE2 is Debian's Unicode-aware regex engine; HF writes its patterns for Oniguruma, whose
// syntax for these patterns (\p{L}, (?i:...), lookahead) PCRE2 shares.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace primus::data::tok {

class Regex {
 public:
  // literal = true: the pattern is matched as a plain string.
  Regex(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-empty, non-overlapping matches, left to right.
  // `text` must be valid UTF-8 (callers validate once; see is_valid_utf8).
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code*
};

}  // namespace primus::data::tok
