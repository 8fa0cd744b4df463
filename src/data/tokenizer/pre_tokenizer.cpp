#include "data/tokenizer/pre_tokenizer.hpp"

#include "core/error.hpp"
#include "data/tokenizer/regex.hpp"
#include "data/tokenizer/utf8.hpp"

namespace primus::data::tok {
namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& b, const std::string& file) {
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  fail("{}: split behavior '{}' is not supported", file, b);
}

// Splits one piece by the matches of `regex` according to `behavior`.
void split_piece(const Piece& piece, const Regex& regex, Behavior behavior, bool invert,
                 std::vector<Piece>& out) {
  thread_local std::vector<std::pair<std::size_t, std::size_t>> matches;
  regex.find_all(piece.text, matches);
  struct Span {
    std::size_t b, e;
    bool match;
  };
  thread_local std::vector<Span> spans;
  spans.clear();
  std::size_t pos = 0;
  for (const auto& [b, e] : matches) {
    if (b > pos) spans.push_back({pos, b, invert});
    spans.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < piece.text.size()) spans.push_back({pos, piece.text.size(), invert});
  auto emit = [&](std::size_t b, std::size_t e) {
    if (e > b) out.push_back({piece.text.substr(b, e - b), piece.at_start && b == 0});
  };
  switch (behavior) {
    case Behavior::kRemoved:
      for (const auto& s : spans) if (!s.match) emit(s.b, s.e);
      break;
    case Behavior::kIsolated:
      for (const auto& s : spans) emit(s.b, s.e);
      break;
    case Behavior::kMergedWithPrevious: {
      std::size_t start = 0;
      bool open = false;
      for (const auto& s : spans) {
        if (s.match) {
          emit(open ? start : s.b, s.e);
          open = false;
        } else {
          if (open) emit(start, s.b);
          start = s.b;
          open = true;
        }
      }
      if (open) emit(start, piece.text.size());
      break;
    }
    case Behavior::kMergedWithNext: {
      std::size_t start = 0;
      bool open = false;
      for (const auto& s : spans) {
        if (s.match) {
          if (open) emit(start, s.b);
          start = s.b;
          open = true;
        } else {
          emit(open ? start : s.b, s.e);
          open = false;
        }
      }
      if (open) emit(start, piece.text.size());
      break;
    }
    case Behavior::kContiguous: {
      std::size_t k = 0;
      while (k < spans.size()) {
        std::size_t j = k;
        while (spans[k].match && j + 1 < spans.size() && spans[j + 1].match) ++j;
        emit(spans[k].b, spans[j].e);
        k = j + 1;
      }
      break;
    }
  }
}

class RegexSplit final : public PreTokenizer {
 public:
  RegexSplit(const std::string& pattern, bool literal, Behavior behavior, bool invert)
      : regex_(pattern, literal), behavior_(behavior), invert_(invert) {}
  void apply(std::vector<Piece>& pieces) const override {
    thread_local std::vector<Piece> out;
    out.clear();
    for (const auto& p : pieces) split_piece(p, regex_, behavior_, invert_, out);
    pieces.swap(out);
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, false);
  }
  void apply(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (!p.text.empty() && p.text[0] == ' ') continue;
        std::string prefixed;
        prefixed.reserve(p.text.size() + 1);
        prefixed.push_back(' ');
        prefixed.append(p.text);
        p.text.swap(prefixed);
      }
    }
    if (regex_) {
      thread_local std::vector<Piece> out;
      out.clear();
      for (const auto& p : pieces) split_piece(p, *regex_, Behavior::kIsolated, false, out);
      pieces.swap(out);
    }
    const auto& table = byte_to_unicode();
    for (auto& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (char c : p.text) mapped += table[static_cast<unsigned char>(c)];
      p.text.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, std::string scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(std::move(scheme)), split_(split),
        regex_(replacement_, true) {}
  void apply(std::vector<Piece>& pieces) const override {
    for (auto& p : pieces) {
      std::string out;
      for (char c : p.text) {
        if (c == ' ') out += replacement_;
        else out.push_back(c);
      }
      const bool starts = out.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == "always" || (scheme_ == "first" && p.at_start))) out.insert(0, replacement_);
      p.text.swap(out);
    }
    if (split_) {
      thread_local std::vector<Piece> out;
      out.clear();
      for (const auto& p : pieces) split_piece(p, regex_, Behavior::kMergedWithNext, false, out);
      pieces.swap(out);
    }
  }

 private:
  std::string replacement_, scheme_;
  bool split_;
  Regex regex_;
};

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void apply(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->apply(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec, const std::string& file) {
  if (spec.is_null()) return nullptr;
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : spec.at("pretokenizers")) {
      if (auto t = make_pre_tokenizer(p, file)) parts.push_back(std::move(t));
    }
    return std::make_unique<SequencePre>(std::move(parts));
  }
  if (type == "Split") {
    const auto& pattern = spec.at("pattern");
    const bool literal = pattern.contains("String");
    const std::string text = literal ? pattern["String"].get<std::string>() : pattern.at("Regex").get<std::string>();
    return std::make_unique<RegexSplit>(text, literal, parse_behavior(spec.at("behavior").get<std::string>(), file),
                                        spec.value("invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(spec.value("add_prefix_space", true), spec.value("use_regex", true));
  }
  if (type == "Metaspace") {
    std::string scheme = "always";
    if (spec.contains("prepend_scheme")) scheme = spec["prepend_scheme"].get<std::string>();
    else if (spec.contains("add_prefix_space") && !spec["add_prefix_space"].get<bool>()) scheme = "never";
    return std::make_unique<Metaspace>(spec.value("replacement", std::string("\xe2\x96\x81")), scheme,
                                       spec.value("split", true));
  }
  if (type == "Digits") {
    const bool individual = spec.value("individual_digits", false);
    return std::make_unique<RegexSplit>(individual ? "\\p{Nd}" : "\\p{Nd}+", false, Behavior::kIsolated, false);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<RegexSplit>("\\s+", false, Behavior::kRemoved, false);
  }
  if (type == "Whitespace") {
    return std::make_unique<RegexSplit>("\\w+|[^\\w\\s]+", false, Behavior::kRemoved, true);
  }
  fail("{}: pre_tokenizer type '{}' is not supported", file, type);
}

}  // namespace primus::data::tok
