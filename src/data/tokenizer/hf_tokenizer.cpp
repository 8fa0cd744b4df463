#include "data/tokenizer/hf_tokenizer.hpp"

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/message_text.hpp"
#include "data/tokenizer/token_id.hpp"
#include "data/tokenizer/utf8.hpp"

namespace primus::data {
namespace fs = std::filesystem;

namespace {

// tokenizer.json files run to tens of MiB (large vocabularies); far more is not one.
constexpr std::uint64_t kMaxTokenizerFileBytes = std::uint64_t{1} << 30;

nlohmann::json load_json(const std::string& path) {
  const std::string text = read_input_file(path, "tokenizer file", kMaxTokenizerFileBytes);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, printable(e.what()));
  }
}

// tokenizer_config.json writes special tokens as "text" or {"content": "text", ...}.
std::optional<std::string> special_token_text(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

HfTokenizer::~HfTokenizer() = default;

HfTokenizer::HfTokenizer(const std::string& tokenizer_json) : path_(tokenizer_json) {
  const nlohmann::json j = load_json(tokenizer_json);
  try {
    if (j.contains("truncation") && !j["truncation"].is_null()) {
      // Truncation/padding only matter for batched model inputs; data preprocessing ignores them.
    }
    added_ = tok::AddedVocabulary(j.value("added_tokens", nlohmann::json::array()), path_);
    normalizer_ = tok::make_normalizer(j.value("normalizer", nlohmann::json()), path_);
    pre_tokenizer_ = tok::make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), path_);
    model_ = std::make_unique<tok::BpeModel>(j.at("model"), path_);
    decoder_ = tok::make_decoder(j.value("decoder", nlohmann::json()), path_);

    std::function<void(const nlohmann::json&)> post = [&](const nlohmann::json& p) {
      if (p.is_null()) return;
      const std::string type = p.at("type").get<std::string>();
      if (type == "Sequence") {
        for (const auto& q : p.at("processors")) post(q);
      } else if (type == "ByteLevel") {
        // Only adjusts offsets; ids are unchanged.
      } else if (type == "TemplateProcessing") {
        const auto& specials = p.at("special_tokens");
        bool after = false;
        prefix_ids_.clear();
        suffix_ids_.clear();
        for (const auto& item : p.at("single")) {
          if (item.contains("Sequence")) {
            after = true;
            continue;
          }
          const std::string name = item.at("SpecialToken").at("id").get<std::string>();
          if (!specials.contains(name)) fail("{}: post_processor uses undeclared special token '{}'", path_, name);
          for (const auto& id : specials[name].at("ids")) (after ? suffix_ids_ : prefix_ids_).push_back(tok::token_id(id, path_, "post_processor special token " + name));
        }
      } else {
        fail("{}: post_processor type '{}' is not supported", path_, type);
      }
    };
    post(j.value("post_processor", nlohmann::json()));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected tokenizer.json structure: {}", path_, e.what());
  }

  std::int64_t max_id = model_->max_id();
  for (const auto& t : added_.tokens()) max_id = std::max<std::int64_t>(max_id, t.id);
  vocab_size_ = max_id + 1;

  const fs::path config_path = fs::path(tokenizer_json).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (fs::symlink_status(config_path, ec).type() != fs::file_type::not_found && !ec) {
    const auto config = load_json(config_path.string());
    auto resolve = [&](const char* key) -> std::optional<std::int32_t> {
      const auto text = special_token_text(config, key);
      if (!text) return std::nullopt;
      const auto id = token_to_id(*text);
      if (!id) fail("{}: {} '{}' is not a token of {}", config_path.string(), key, *text, path_);
      return id;
    };
    clean_up_spaces_ = config.value("clean_up_tokenization_spaces", false);
    bos_ = resolve("bos_token");
    eos_ = resolve("eos_token");
    pad_ = resolve("pad_token");
  }
}

std::optional<std::int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_.id_of(token)) return id;
  return model_->token_to_id(token);
}

std::int32_t HfTokenizer::eod() const {
  if (!eos_) fail("{}: no eos_token in tokenizer_config.json, so there is no end-of-document id", path_);
  return *eos_;
}

void HfTokenizer::encode_plain(std::string_view text, bool at_start, std::vector<std::int32_t>& out) const {
  std::string normalized(text);
  if (normalizer_) normalizer_->normalize(normalized);
  std::vector<tok::Segment> local;
  if (added_.has_normalized()) {
    added_.split(normalized, true, local);
  } else if (!normalized.empty()) {
    local.push_back({normalized, -1, 0});
  }
  std::vector<tok::Piece> pieces;
  for (const auto& seg : local) {
    if (seg.token >= 0) {
      out.push_back(seg.token);
      continue;
    }
    pieces.clear();
    pieces.push_back({std::string(seg.text), at_start && seg.offset == 0});
    if (pre_tokenizer_) pre_tokenizer_->apply(pieces);
    for (const auto& p : pieces) model_->tokenize(p.text, out);
  }
}

void HfTokenizer::encode(std::string_view text, std::vector<std::int32_t>& out, bool add_special_tokens) const {
  if (!tok::is_valid_utf8(text)) fail("{}: text to encode is not valid UTF-8", path_);
  const std::size_t first = out.size();
  std::vector<tok::Segment> segments;
  added_.split(text, false, segments);
  for (const auto& seg : segments) {
    if (seg.token >= 0) out.push_back(seg.token);
    else encode_plain(seg.text, seg.offset == 0, out);
  }
  if (add_special_tokens) post_process(out, first);
}

void HfTokenizer::post_process(std::vector<std::int32_t>& ids, std::size_t first) const {
  if (!prefix_ids_.empty()) ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(first), prefix_ids_.begin(), prefix_ids_.end());
  ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
}

std::string HfTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (auto id : ids) {
    if (const auto* a = added_.find(id)) {
      if (skip_special_tokens && a->special) continue;
      tokens.push_back(a->content);
      continue;
    }
    const std::string* t = model_->id_to_token(id);
    if (t == nullptr) fail("{}: cannot decode unknown token id {}", path_, id);
    tokens.push_back(*t);
  }
  if (decoder_) decoder_->decode(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  if (clean_up_spaces_) {
    // transformers' clean_up_tokenization: drop the space before punctuation and contractions.
    static const char* kPatterns[][2] = {{" .", "."},   {" ?", "?"},   {" !", "!"},     {" ,", ","},
                                         {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
                                         {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kPatterns) {
      const std::string f(from), t(to);
      std::string next;
      std::size_t pos = 0, hit;
      while ((hit = out.find(f, pos)) != std::string::npos) {
        next.append(out, pos, hit - pos);
        next += t;
        pos = hit + f.size();
      }
      next.append(out, pos, std::string::npos);
      out.swap(next);
    }
  }
  return out;
}

}  // namespace primus::data
