// config.json of a Hugging Face model and the experiment's architecture, related key by key.
//
// architecture_checks() lists, for a family, every config.json key that decides the model's
// math with the value the experiment implies (and the default HF uses when the key is absent):
// export writes those values; import compares a model's config.json against them and names the
// first key that differs ("config.json: num_key_value_heads is 8 but the experiment's
// num_query_groups gives 4"). Experiment settings a family cannot express (LayerNorm, linear
// biases, a shared-expert gate, ...) are refused naming the experiment's key.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/hf/hf_family.hpp"
#include "config/args.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint::hf {

struct ConfigCheck {
  std::string key;             // config.json key; "a.b" for a key inside an object (rope_scaling.factor)
  nlohmann::json expected;     // the value the experiment implies
  nlohmann::json absent;       // what HF assumes when the key is missing (null: the key is required)
  std::string ours;            // the experiment key(s) it comes from, for messages
};

// Throws primus::Error naming the experiment key when the experiment's architecture has no
// counterpart in the family.
std::vector<ConfigCheck> architecture_checks(Family f, const config::Args& a, const model::ModelConfig& c);

// config.json for export: architectures, model_type, torch_dtype and every checked key.
nlohmann::ordered_json make_hf_config(Family f, const config::Args& a, const model::ModelConfig& c,
                                      const std::string& torch_dtype, std::optional<std::int64_t> bos,
                                      std::optional<std::int64_t> eos);

// Compares a config.json with the experiment; throws primus::Error "<path>: <key> is X but the
// experiment's <ours> gives Y" at the first difference.
void check_hf_config(const nlohmann::json& hf, Family f, const config::Args& a, const model::ModelConfig& c,
                     const std::string& path);

}  // namespace primus::checkpoint::hf
