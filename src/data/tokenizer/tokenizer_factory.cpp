#include "data/tokenizer/tokenizer_factory.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "data/tokenizer/hf_tokenizer.hpp"
#include "data/tokenizer/null_tokenizer.hpp"

namespace primus::data {
namespace fs = std::filesystem;

namespace {

bool is_hf_type(const std::string& t) {
  static const char* kTypes[] = {"Llama2Tokenizer",     "Llama3Tokenizer",     "MixtralTokenizer",
                                 "DeepSeekV2Tokenizer", "DeepSeekV3Tokenizer", "Qwen2Tokenizer",
                                 "HuggingFaceTokenizer"};
  return std::any_of(std::begin(kTypes), std::end(kTypes), [&](const char* k) { return t == k; });
}

std::string hub_dir() {
  if (const char* c = std::getenv("HF_HUB_CACHE"); c != nullptr && *c != '\0') return c;
  if (const char* h = std::getenv("HF_HOME"); h != nullptr && *h != '\0') return (fs::path(h) / "hub").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home != nullptr ? home : ".") / ".cache" / "huggingface" / "hub").string();
}

}  // namespace

std::string resolve_tokenizer_json(const std::string& model) {
  if (model.empty()) fail("tokenizer_model is empty: give a tokenizer.json, a folder, or a Hugging Face id");
  std::error_code ec;
  const fs::path p(model);
  // Present but neither a file nor a folder (a device, a symbolic-link loop): say which.
  if (fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec && !fs::is_directory(p, ec))
    check_input_file(p, "tokenizer file");
  if (fs::is_regular_file(p, ec)) {
    if (p.extension() == ".model") {
      fail("tokenizer_model '{}': SentencePiece .model files are not supported; give the model's "
           "tokenizer.json (Hugging Face format) or its folder instead", model);
    }
    return p.string();
  }
  if (fs::is_directory(p, ec)) {
    if (fs::is_regular_file(p / "tokenizer.json", ec)) return (p / "tokenizer.json").string();
    fail("tokenizer_model '{}': folder has no tokenizer.json", model);
  }
  const auto slash = model.find('/');
  if (slash != std::string::npos && slash > 0 && model.find('/', slash + 1) == std::string::npos &&
      model[0] != '.') {
    // The standard cache first, then the project's own assets (scripts/fetch_assets.sh).
    std::vector<std::string> hubs = {hub_dir()};
    const fs::path project_hub = fs::current_path(ec) / "assets" / "hf_home" / "hub";
    if (!ec && fs::is_directory(project_hub, ec) && fs::path(hubs[0]) != project_hub) hubs.push_back(project_hub.string());
    const std::string dir_name = "models--" + model.substr(0, slash) + "--" + model.substr(slash + 1);
    std::string looked;
    for (const auto& hub : hubs) {
      const fs::path repo = fs::path(hub) / dir_name;
      // Prefer the snapshot refs/main points to, else any snapshot (sorted, for determinism).
      std::vector<fs::path> candidates;
      std::ifstream ref(repo / "refs" / "main");
      std::string rev;
      if (ref && std::getline(ref, rev) && !rev.empty()) candidates.push_back(repo / "snapshots" / rev / "tokenizer.json");
      if (fs::is_directory(repo / "snapshots", ec)) {
        std::vector<fs::path> snaps;
        for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) snaps.push_back(e.path() / "tokenizer.json");
        std::sort(snaps.begin(), snaps.end());
        candidates.insert(candidates.end(), snaps.begin(), snaps.end());
      }
      for (const auto& c : candidates) {
        if (fs::is_regular_file(c, ec)) return c.string();
      }
      looked += (looked.empty() ? "" : " and ") + (repo / "snapshots" / "*" / "tokenizer.json").string();
    }
    fail("tokenizer_model '{}': not a local file or folder, and no {} (set HF_HOME to a Hugging Face "
         "cache holding it, or run scripts/fetch_assets.sh from the repository root)",
         model, looked);
  }
  fail("tokenizer_model '{}': no such file or folder (and not a Hugging Face id ORG/NAME)", model);
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& tokenizer_type, const std::string& tokenizer_model,
                                          std::optional<std::int64_t> vocab_size) {
  if (tokenizer_type == "NullTokenizer") {
    if (!vocab_size) fail("tokenizer_type NullTokenizer needs vocab_size");
    return std::make_unique<NullTokenizer>(*vocab_size);
  }
  if (is_hf_type(tokenizer_type)) return std::make_unique<HfTokenizer>(resolve_tokenizer_json(tokenizer_model));
  fail("tokenizer_type '{}' is not supported (expected one of Llama2Tokenizer, Llama3Tokenizer, "
       "MixtralTokenizer, DeepSeekV2Tokenizer, DeepSeekV3Tokenizer, Qwen2Tokenizer, "
       "HuggingFaceTokenizer, NullTokenizer)",
       tokenizer_type);
}

nlohmann::ordered_json tokenizer_identity(const std::string& tokenizer_type, const std::string& tokenizer_model,
                                          std::optional<std::int64_t> vocab_size) {
  nlohmann::ordered_json j;
  if (tokenizer_type == "NullTokenizer") {
    j["class"] = "_NullTokenizer";
    j["tokenizer_path"] = nlohmann::ordered_json::array({nullptr});
    j["vocab_size"] = std::to_string(vocab_size.value_or(0));
    return j;
  }
  j["class"] = "_HuggingFaceTokenizer";
  j["tokenizer_path"] = nlohmann::ordered_json::array({tokenizer_model});
  return j;
}

}  // namespace primus::data
