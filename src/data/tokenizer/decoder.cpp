#include "data/tokenizer/decoder.hpp"

#include <cctype>

#include "core/error.hpp"
#include "data/tokenizer/utf8.hpp"

namespace primus::data::tok {
namespace {

// Replaces invalid UTF-8 by U+FFFD, one per maximal invalid sequence start (like from_utf8_lossy).
std::string lossy_utf8(const std::string& bytes) {
  if (is_valid_utf8(bytes)) return bytes;
  std::string out;
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const std::size_t n = utf8_length(c);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (n > 1 && i + n <= bytes.size() && is_valid_utf8(std::string_view(bytes).substr(i, n))) {
      out.append(bytes, i, n);
      i += n;
      continue;
    }
    out += "\xef\xbf\xbd";
    // Skip the continuation bytes that belong to this broken sequence.
    ++i;
    while (i < bytes.size() && (static_cast<unsigned char>(bytes[i]) & 0xc0) == 0x80 && n > 1) ++i;
  }
  return out;
}

class ByteLevelDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::size_t i = 0;
      while (i < t.size()) {
        const std::size_t start = i;
        const char32_t cp = next_code_point(t, i);
        const int b = unicode_to_byte(cp);
        if (b >= 0) bytes.push_back(static_cast<char>(b));
        else bytes.append(t, start, i - start);
      }
    }
    tokens.assign(1, lossy_utf8(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode(std::vector<std::string>& tokens) const override {
    if (from_.empty()) return;
    for (auto& t : tokens) {
      std::string out;
      std::size_t pos = 0, hit;
      while ((hit = t.find(from_, pos)) != std::string::npos) {
        out.append(t, pos, hit - pos);
        out += to_;
        pos = hit + from_.size();
      }
      out.append(t, pos, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string from_, to_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    bool have = false;
    auto flush = [&]() {
      if (!have) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (std::size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xef\xbf\xbd");
      }
      pending.clear();
      have = false;
    };
    for (auto& t : tokens) {
      // "<0xNN>" with two hex digits is a byte; anything else (a token "<0xZZ>") is text.
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4]))) {
        const int v = std::stoi(t.substr(3, 2), nullptr, 16);
        pending.push_back(static_cast<char>(v));
        have = true;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, all);
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      for (std::size_t k = 0; k < start_ && t.compare(0, content_.size(), content_) == 0 && !t.empty(); ++k) {
        t.erase(0, content_.size());
      }
      for (std::size_t k = 0; k < stop_ && t.size() >= content_.size() &&
                              t.compare(t.size() - content_.size(), content_.size(), content_) == 0 && !t.empty();
           ++k) {
        t.erase(t.size() - content_.size());
      }
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode(std::vector<std::string>& tokens) const override {
    ReplaceDecoder(replacement_, " ").decode(tokens);
    if (strip_first_ && !tokens.empty() && !tokens[0].empty() && tokens[0][0] == ' ') tokens[0].erase(0, 1);
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec, const std::string& file) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& p : spec.at("decoders")) {
      if (auto d = make_decoder(p, file)) parts.push_back(std::move(d));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") {
    const auto& pattern = spec.at("pattern");
    if (!pattern.contains("String")) fail("{}: Replace decoder with a regex pattern is not supported", file);
    return std::make_unique<ReplaceDecoder>(pattern["String"].get<std::string>(), spec.at("content").get<std::string>());
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(spec.at("content").get<std::string>(), spec.value("start", 0u),
                                          spec.value("stop", 0u));
  }
  if (type == "Metaspace") {
    std::string scheme = "always";
    if (spec.contains("prepend_scheme")) scheme = spec["prepend_scheme"].get<std::string>();
    else if (spec.contains("add_prefix_space") && !spec["add_prefix_space"].get<bool>()) scheme = "never";
    return std::make_unique<MetaspaceDecoder>(spec.value("replacement", std::string("\xe2\x96\x81")), scheme != "never");
  }
  fail("{}: decoder type '{}' is not supported", file, type);
}

}  // namespace primus::data::tok
