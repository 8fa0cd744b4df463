#include "data/tokenizer/null_tokenizer.hpp"

#include <charconv>

#include "core/error.hpp"

namespace primus::data {

NullTokenizer::NullTokenizer(std::int64_t vocab_size) : vocab_(vocab_size) {
  if (vocab_size <= 0 || vocab_size >= (std::int64_t{1} << 31) - 1) {
    fail("NullTokenizer: vocab_size must be in [1, 2^31 - 1) (got {})", vocab_size);
  }
}

void NullTokenizer::encode(std::string_view text, std::vector<std::int32_t>& out, bool) const {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view tok = text.substr(pos, end - pos);
    std::int32_t v = 0;
    const auto res = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || res.ec != std::errc() || res.ptr != tok.data() + tok.size()) {
      fail("NullTokenizer: '{}' is not an integer token id (text must be space-separated ids)", tok);
    }
    out.push_back(v);
    pos = end + 1;
  }
}

std::string NullTokenizer::decode(std::span<const std::int32_t> ids, bool) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out += std::to_string(ids[i]);
  }
  return out;
}

}  // namespace primus::data
