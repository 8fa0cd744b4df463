#include "data/tokenizer/normalizer.hpp"

#include <vector>

#include "core/error.hpp"
#include "data/tokenizer/regex.hpp"
#include "data/tokenizer/utf8.hpp"

namespace primus::data::tok {
namespace {

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const std::string& pattern, bool literal, std::string content)
      : literal_(literal ? pattern : std::string()), content_(std::move(content)) {
    if (!literal) regex_ = std::make_unique<Regex>(pattern, false);
  }
  void normalize(std::string& text) const override {
    if (!regex_) {
      // Plain string pattern (e.g. " " -> "▁"): a find loop, no regex engine.
      if (literal_.empty() || text.find(literal_) == std::string::npos) return;
      std::string out;
      out.reserve(text.size() + text.size() / 4 * content_.size());
      std::size_t pos = 0, hit;
      while ((hit = text.find(literal_, pos)) != std::string::npos) {
        out.append(text, pos, hit - pos);
        out += content_;
        pos = hit + literal_.size();
      }
      out.append(text, pos, std::string::npos);
      text.swap(out);
      return;
    }
    thread_local std::vector<std::pair<std::size_t, std::size_t>> matches;
    regex_->find_all(text, matches);
    if (matches.empty()) return;
    std::string out;
    out.reserve(text.size() + matches.size() * content_.size());
    std::size_t pos = 0;
    for (const auto& [b, e] : matches) {
      out.append(text, pos, b - pos);
      out += content_;
      pos = e;
    }
    out.append(text, pos, std::string::npos);
    text.swap(out);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    if (right_) while (!text.empty() && is_space(text.back())) text.pop_back();
    if (left_) {
      std::size_t k = 0;
      while (k < text.size() && is_space(text[k])) ++k;
      text.erase(0, k);
    }
  }

 private:
  bool left_, right_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  explicit LowercaseNormalizer(std::string file) : file_(std::move(file)) {}
  void normalize(std::string& text) const override {
    for (char& c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) fail("{}: the Lowercase normalizer is only supported for ASCII text", file_);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }

 private:
  std::string file_;
};

// Unicode normalization forms are the identity on text without combining marks, Hangul jamo,
// or compatibility/singleton characters. We accept such text unchanged and refuse the rest.
class UnicodeFormNormalizer final : public Normalizer {
 public:
  UnicodeFormNormalizer(std::string form, std::string file) : form_(std::move(form)), file_(std::move(file)) {}
  void normalize(std::string& text) const override {
    std::size_t i = 0;
    while (i < text.size()) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x80) {
        ++i;
        continue;
      }
      const char32_t cp = next_code_point(text, i);
      if (!stable(cp)) {
        fail("{}: {} normalization of U+{:04X} is not supported (only text already in {} form)",
             file_, form_, static_cast<std::uint32_t>(cp), form_);
      }
    }
  }

 private:
  bool stable(char32_t cp) const {
    const bool compat = form_ == "NFKC" || form_ == "NFKD";
    const bool decompose = form_ == "NFD" || form_ == "NFKD";
    if (cp >= 0x0300 && cp <= 0x036f) return false;      // combining diacritics
    if (cp >= 0x0483 && cp <= 0x0489) return false;
    if (cp >= 0x0591 && cp <= 0x05c7) return false;
    if (cp >= 0x0610 && cp <= 0x065f) return false;
    if (cp >= 0x0900 && cp <= 0x0dff) return false;      // Indic scripts (nukta, vowel signs)
    if (cp >= 0x1100 && cp <= 0x11ff) return false;      // Hangul jamo
    if (cp >= 0x1ab0 && cp <= 0x1aff) return false;
    if (cp >= 0x1dc0 && cp <= 0x1dff) return false;
    if (cp >= 0x20d0 && cp <= 0x20ff) return false;
    if (cp >= 0x3099 && cp <= 0x309a) return false;
    if (cp >= 0xfe20 && cp <= 0xfe2f) return false;
    if (cp >= 0x2000 && cp <= 0x2fff && cp != 0x2581 && compat) return false;  // compatibility forms
    if (cp >= 0xf900 && cp <= 0xfaff) return false;      // CJK compatibility ideographs
    if (cp >= 0x2f800 && cp <= 0x2fa1f) return false;
    // Canonical singletons: NFC itself replaces these by other characters.
    if (cp == 0x0340 || cp == 0x0341 || cp == 0x0343 || cp == 0x0344 || cp == 0x0374 ||
        cp == 0x037e || cp == 0x0387 || cp == 0x2000 || cp == 0x2001 || cp == 0x2126 ||
        cp == 0x212a || cp == 0x212b || cp == 0x2329 || cp == 0x232a) {
      return false;
    }
    if (cp >= 0x1f00 && cp <= 0x1fff) return false;      // polytonic Greek (oxia singletons)
    if (cp >= 0xfb00 && cp <= 0xfb4f) return false;      // ligatures, presentation forms
    if (cp >= 0xff00 && cp <= 0xffef && compat) return false;  // full/half-width forms
    if (cp == 0x00a0 || cp == 0x00aa || cp == 0x00b2 || cp == 0x00b3 || cp == 0x00b5 ||
        cp == 0x00b9 || cp == 0x00ba || (cp >= 0x00bc && cp <= 0x00be) || cp == 0x00a8 ||
        cp == 0x00af || cp == 0x00b4 || cp == 0x00b8) {
      if (compat) return false;
    }
    if (decompose && cp >= 0x00c0 && cp <= 0x1fff) return false;  // precomposed letters
    if (decompose && cp >= 0xac00 && cp <= 0xd7a3) return false;  // Hangul syllables
    return true;
  }
  std::string form_, file_;
};

std::pair<std::string, bool> pattern_of(const nlohmann::json& pattern, const std::string& file) {
  if (pattern.contains("String")) return {pattern["String"].get<std::string>(), true};
  if (pattern.contains("Regex")) return {pattern["Regex"].get<std::string>(), false};
  fail("{}: pattern {} is neither String nor Regex", file, pattern.dump());
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, const std::string& file) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& p : spec.at("normalizers")) {
      if (auto n = make_normalizer(p, file)) parts.push_back(std::move(n));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(spec.at("prepend").get<std::string>());
  if (type == "Replace") {
    auto [pattern, literal] = pattern_of(spec.at("pattern"), file);
    return std::make_unique<ReplaceNormalizer>(pattern, literal, spec.at("content").get<std::string>());
  }
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(spec.value("strip_left", true), spec.value("strip_right", true));
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>(file);
  if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    return std::make_unique<UnicodeFormNormalizer>(type, file);
  }
  fail("{}: normalizer type '{}' is not supported", file, type);
}

}  // namespace primus::data::tok
