// A Hugging Face fixture of tests/fixtures/hf/<family>/ (tools/reference/hf/make_hf_fixtures.py):
// its experiment resolved, the engine's model of it, and the reference's expected outputs.
#pragma once

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/model_tensors.hpp"
#include "config/resolved_config.hpp"
#include "data/tokenizer/tokenizer_factory.hpp"
#include "io/safetensors_reader.hpp"
#include "model/gpt_model.hpp"

namespace primus::test {

inline const std::vector<std::string>& hf_families() {
  static const std::vector<std::string> f = {"llama", "llama32_tied", "qwen2", "qwen3", "qwen3_moe", "mixtral",
                                             "deepseek_v2", "deepseek_v3"};
  return f;
}

struct HfFixture {
  std::filesystem::path dir, hf_dir;
  config::ResolvedConfig resolved;
  model::ModelConfig config;

  explicit HfFixture(const std::string& family) {
    dir = std::filesystem::path(PRIMUS_SOURCE_DIR) / "tests/fixtures/hf" / family;
    hf_dir = dir / "hf";
    config::ResolveOptions ro;
    ro.config = dir / "experiment.yaml";
    resolved = config::resolve(ro);
    const config::Args& a = resolved.args;
    const auto tok = data::make_tokenizer(a.tokenizer_type.value_or("NullTokenizer"), a.tokenizer_model.value_or(""), a.vocab_size);
    config = model::ModelConfig::from_args(a, tok->vocab_size());
  }
  std::unique_ptr<model::GPTModel> model() const {
    return std::make_unique<model::GPTModel>(config, 1, model::RecomputePlan{});
  }
};

inline double rel_l2(const float* a, const float* b, std::int64_t n) {
  double diff = 0, ref = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    ref += double(b[i]) * b[i];
  }
  return std::sqrt(diff / ref);
}

}  // namespace primus::test
