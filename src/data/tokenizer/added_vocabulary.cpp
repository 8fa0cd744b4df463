#include "data/tokenizer/added_vocabulary.hpp"
#include "data/tokenizer/token_id.hpp"

#include <algorithm>

namespace primus::data::tok {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

}  // namespace

AddedVocabulary::AddedVocabulary(const nlohmann::json& added_tokens, const std::string& file) {
  by_first_byte_[0].resize(256);
  by_first_byte_[1].resize(256);
  for (const auto& t : added_tokens) {
    AddedToken a;
    a.content = t.at("content").get<std::string>();
    a.id = token_id(t.at("id"), file, "added token");
    a.special = t.value("special", false);
    a.normalized = t.value("normalized", !a.special);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    if (a.content.empty()) continue;
    has_normalized_ = has_normalized_ || a.normalized;
    tokens_.push_back(a);
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const auto& t = tokens_[i];
    by_first_byte_[t.normalized ? 1 : 0][static_cast<unsigned char>(t.content[0])].push_back(i);
  }
  for (auto& table : by_first_byte_) {
    for (auto& bucket : table) {
      std::stable_sort(bucket.begin(), bucket.end(), [&](std::size_t a, std::size_t b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
    }
  }
}

const AddedToken* AddedVocabulary::find(std::int32_t id) const {
  for (const auto& t : tokens_) if (t.id == id) return &t;
  return nullptr;
}

std::optional<std::int32_t> AddedVocabulary::id_of(std::string_view content) const {
  for (const auto& t : tokens_) if (t.content == content) return t.id;
  return std::nullopt;
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Segment>& out) const {
  out.clear();
  const auto& table = by_first_byte_[normalized ? 1 : 0];
  if (tokens_.empty() || table.empty()) {
    if (!text.empty()) out.push_back({text, -1, 0});
    return;
  }
  std::size_t plain_start = 0;  // start of the pending plain stretch
  std::size_t i = 0;
  while (i < text.size()) {
    const auto& bucket = table[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (std::size_t idx : bucket) {
      const auto& t = tokens_[idx];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const bool left_ok = i == 0 || !is_word(text[i - 1]);
        const std::size_t end = i + t.content.size();
        const bool right_ok = end >= text.size() || !is_word(text[end]);
        if (!left_ok || !right_ok) continue;
      }
      hit = &t;
      break;
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    std::size_t b = i, e = i + hit->content.size();
    if (hit->lstrip) while (b > plain_start && is_space(text[b - 1])) --b;
    if (hit->rstrip) while (e < text.size() && is_space(text[e])) ++e;
    if (b > plain_start) out.push_back({text.substr(plain_start, b - plain_start), -1, plain_start});
    out.push_back({text.substr(b, e - b), hit->id, b});
    i = e;
    plain_start = e;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1, plain_start});
}

}  // namespace primus::data::tok
