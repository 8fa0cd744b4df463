// The proof that a migration lost nothing: the written experiment, resolved by the normal
// resolver, compared key by key (every schema key and the derived layout) with what Megatron-LM
// makes of the original flags. Deprecated aliases are compared through what they convert to.
#pragma once

#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "migrate/megatron_reading.hpp"

namespace primus::migrate {

struct KeyDifference {
  std::string key;
  config::Value megatron;   // what the script means
  config::Value primus;     // what the experiment resolves to
  std::string primus_origin;
};

struct ProofResult {
  size_t identical = 0;
  std::vector<KeyDifference> differences;

  bool lossless() const { return differences.empty(); }
  // "lossless: 612 keys identical" or "NOT lossless: 2 keys differ: lr 0.0003 (script) vs 2e-05 (...)".
  std::string describe() const;
};

// Megatron's deprecated spellings whose meaning the resolver converts into another key.
bool is_converted_alias(const std::string& key);

ProofResult prove_lossless(const ValueMap& megatron, const config::ResolvedConfig& primus);

}  // namespace primus::migrate
