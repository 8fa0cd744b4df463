#include "data/tokenizer/bpe_model.hpp"

#include <cstdio>
#include <queue>

#include "core/error.hpp"
#include "core/message_text.hpp"
#include "data/tokenizer/token_id.hpp"
#include "data/tokenizer/utf8.hpp"

namespace primus::data::tok {
namespace {

// 2^24 ids: 64 times the largest vocabularies in use, a table of at most ~0.5 GB.

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, const std::string& file) : file_(file) {
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    fail("{}: tokenizer model type '{}' is not supported (only BPE)", file, type);
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
      fail("{}: BPE option '{}' is not supported", file, key);
    }
  }
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() > 0) {
    fail("{}: BPE dropout is not supported for deterministic encoding", file);
  }
  const auto& vocab = model.at("vocab");
  vocab_.reserve(vocab.size());
  std::int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const std::int32_t id = token_id(it.value(), file, fmt::format("'{}'", printable(it.key(), 40)));
    vocab_.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  tokens_.resize(static_cast<std::size_t>(max_id + 1));
  has_token_.assign(static_cast<std::size_t>(max_id + 1), false);
  for (const auto& [token, id] : vocab_) {
    tokens_[static_cast<std::size_t>(id)] = token;
    has_token_[static_cast<std::size_t>(id)] = true;
  }
  std::int32_t rank = 0;
  const auto& merges = model.at("merges");
  merges_.reserve(merges.size());
  std::string joined;
  for (const auto& m : merges) {
    std::string_view a, b;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const auto space = s.find(' ', 1);
      if (space == std::string::npos) fail("{}: merge '{}' is not 'a b'", file, s);
      a = std::string_view(s).substr(0, space);
      b = std::string_view(s).substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get_ref<const std::string&>();
      b = m[1].get_ref<const std::string&>();
    } else {
      fail("{}: merge #{} is neither 'a b' nor [a, b]", file, rank);
    }
    joined.assign(a);
    joined.append(b);
    const auto ia = vocab_.find(a), ib = vocab_.find(b), ic = vocab_.find(std::string_view(joined));
    if (ia == vocab_.end() || ib == vocab_.end() || ic == vocab_.end()) {
      fail("{}: merge #{} ('{}' + '{}') uses tokens missing from the vocabulary", file, rank, a, b);
    }
    merges_.emplace(pair_key(ia->second, ib->second), Merge{rank, ic->second});
    ++rank;
  }
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    const auto unk = vocab_.find(model["unk_token"].get<std::string>());
    if (unk == vocab_.end()) fail("{}: unk_token is not in the vocabulary", file);
    unk_ = unk->second;
  }
  // SentencePiece-style vocabularies (no pre-tokenizer, "▁" for spaces) are usually such that no
  // token holds "▁" after another character. Then no merge can ever join a symbol ending in a
  // non-"▁" character with one starting with "▁", so BPE over a whole document equals BPE over its
  // words split before each "▁" run — and words can be cached. Checked here, used only if true.
  static const std::string kMeta = "\xe2\x96\x81";
  split_before_metaspace_ = true;
  for (const auto& [token, id] : vocab_) {
    for (std::size_t at = token.find(kMeta, 1); at != std::string::npos; at = token.find(kMeta, at + 1)) {
      if (at < kMeta.size() || token.compare(at - kMeta.size(), kMeta.size(), kMeta) != 0) {
        split_before_metaspace_ = false;
        break;
      }
    }
    if (!split_before_metaspace_) break;
  }
  byte_fallback_ = model.value("byte_fallback", false);
  fuse_unk_ = model.value("fuse_unk", false);
  ignore_merges_ = model.value("ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    const auto it = vocab_.find(std::string_view(name));
    byte_ids_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<std::int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || !has_token_[static_cast<std::size_t>(id)]) {
    return nullptr;
  }
  return &tokens_[static_cast<std::size_t>(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (split_before_metaspace_ && !ignore_merges_ && word.size() > 64) {
    static const std::string_view kMeta = "\xe2\x96\x81";
    std::size_t start = 0, at = word.find(kMeta, 1);
    while (at != std::string_view::npos) {
      const bool after_meta = at >= kMeta.size() && word.compare(at - kMeta.size(), kMeta.size(), kMeta) == 0;
      if (!after_meta && at > start) {
        tokenize(word.substr(start, at - start), out);
        start = at;
      }
      at = word.find(kMeta, at + kMeta.size());
    }
    if (start > 0) {
      tokenize(word.substr(start), out);
      return;
    }
  }
  // Short words repeat a lot in natural text: cache their ids per thread.
  constexpr std::size_t kCacheWordMax = 64, kCacheEntries = 1 << 16;
  struct Cache {
    const void* owner = nullptr;
    std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> map;
  };
  thread_local Cache cache;
  if (word.size() <= kCacheWordMax) {
    if (cache.owner != this) {
      cache.map.clear();
      cache.owner = this;
    }
    const auto it = cache.map.find(word);
    if (it != cache.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
    const std::size_t before = out.size();
    merge_word(word, out);
    if (cache.map.size() >= kCacheEntries) cache.map.clear();
    cache.map.emplace(std::string(word), std::vector<std::int32_t>(out.begin() + static_cast<std::ptrdiff_t>(before), out.end()));
    return;
  }
  merge_word(word, out);
}

void BpeModel::merge_word(std::string_view word, std::vector<std::int32_t>& out) const {
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
    bool alive;
  };
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  // Initial symbols: one per character, or its bytes (<0xXX>) / unk when it is not a token.
  std::size_t i = 0;
  bool last_was_unk = false;
  auto push = [&](std::int32_t id) {
    const auto n = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1, true});
  };
  while (i < word.size()) {
    const std::size_t len = std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    const std::string_view ch = word.substr(i, len);
    i += len;
    const auto it = vocab_.find(ch);
    if (it != vocab_.end()) {
      push(it->second);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) push(byte_ids_[static_cast<unsigned char>(c)]);
        last_was_unk = false;
        continue;
      }
    }
    if (!unk_) {
      std::size_t at = 0;
      fail("{}: character U+{:04X} is not in the vocabulary and the model has no unk_token",
           file_, static_cast<std::uint32_t>(next_code_point(ch, at)));
    }
    if (!(fuse_unk_ && last_was_unk)) push(*unk_);
    last_was_unk = true;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    std::int32_t rank;
    std::int32_t pos;
    std::int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Candidate> heap_storage;
  heap_storage.clear();
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue(std::greater<>{}, std::move(heap_storage));
  auto consider = [&](std::int32_t left) {
    const std::int32_t right = symbols[static_cast<std::size_t>(left)].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)].id, symbols[static_cast<std::size_t>(right)].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (std::int32_t k = 0; k + 1 < static_cast<std::int32_t>(symbols.size()); ++k) consider(k);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<std::size_t>(left.next)];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // stale candidate
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[static_cast<std::size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (std::int32_t k = 0; k >= 0; k = symbols[static_cast<std::size_t>(k)].next) {
    out.push_back(symbols[static_cast<std::size_t>(k)].id);
  }
}

}  // namespace primus::data::tok
