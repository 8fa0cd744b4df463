#include "migrate/lossless_proof.hpp"

#include <fmt/format.h>

#include "migrate/preset_match.hpp"

namespace primus::migrate {

bool is_converted_alias(const std::string& key) {
  return key == "use_rotary_position_embeddings" || key == "recompute_activations" || key == "num_shared_experts" ||
         key == "n_head_kv";
}

std::string ProofResult::describe() const {
  if (lossless()) return fmt::format("lossless: {} keys identical", identical);
  std::string flags;
  for (const auto& f : dropped) flags += (flags.empty() ? "" : ", ") + f;
  if (differences.empty())
    return fmt::format("NOT lossless: {} flag(s) kept only as comments: {} (the other {} keys identical)",
                       dropped.size(), flags, identical);
  std::string out = fmt::format("NOT lossless: {} key(s) differ ({} identical){}:", differences.size(), identical,
                                dropped.empty() ? "" : fmt::format("; {} flag(s) kept only as comments: {}",
                                                                   dropped.size(), flags));
  for (const auto& d : differences)
    out += fmt::format("\n  {}: script {} vs experiment {} ({})", d.key, d.megatron.to_yaml(), d.primus.to_yaml(),
                       d.primus_origin);
  return out;
}

ProofResult prove_lossless(const ValueMap& megatron, const config::ResolvedConfig& primus) {
  ProofResult proof;
  ValueMap ours = final_values_of(primus);
  for (const auto& [key, expected] : megatron) {
    if (!is_compared_key(key) || is_converted_alias(key)) continue;
    auto it = ours.find(key);
    if (it != ours.end() && it->second == expected) {
      ++proof.identical;
      continue;
    }
    KeyDifference d;
    d.key = key;
    d.megatron = expected;
    if (it != ours.end()) {
      d.primus = it->second;
      d.primus_origin = primus.at(key).origin.describe();
    } else {
      d.primus_origin = "not set";
    }
    proof.differences.push_back(std::move(d));
  }
  return proof;
}

}  // namespace primus::migrate
