#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer/regex.hpp"

#include <pcre2.h>

#include "core/error.hpp"

namespace primus::data::tok {

Regex::Regex(const std::string& pattern, bool literal) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &err, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("tokenizer regex '{}': {} at offset {}", pattern, reinterpret_cast<const char*>(msg), offset);
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view text,
                     std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  out.clear();
  auto* code = static_cast<pcre2_code*>(code_);
  // One match-data block per thread, re-created when a different pattern is used.
  struct MatchData {
    pcre2_match_data* data = nullptr;
    const void* owner = nullptr;
    ~MatchData() {
      if (data != nullptr) pcre2_match_data_free(data);
    }
  };
  thread_local MatchData md;
  if (md.owner != code_ || md.data == nullptr) {
    if (md.data != nullptr) pcre2_match_data_free(md.data);
    md.data = pcre2_match_data_create_from_pattern(code, nullptr);
    md.owner = code_;
  }
  pcre2_match_data* data = md.data;
  std::size_t start = 0;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (start <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail("tokenizer regex '{}': matching failed: {}", pattern_, reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    const std::size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      start = e;
    } else {
      // Empty match: step over one character.
      start = b + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xc0) == 0x80) ++start;
    }
  }
}

}  // namespace primus::data::tok
