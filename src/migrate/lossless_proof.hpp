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
  // Flags the run received that the experiment holds only as comments (--keep-unknown): what
  // they did is lost, so such a migration is never lossless, however many keys agree.
  std::vector<std::string> dropped;

  bool lossless() const { return differences.empty() && dropped.empty(); }
  // "lossless: 612 keys identical", "NOT lossless: 2 keys differ: lr 0.0003 (script) vs 2e-05 (...)"
  // or "NOT lossless: 2 flag(s) kept only as comments: --a, --b 3 (the other 612 keys identical)".
  std::string describe() const;
};

// Megatron's deprecated spellings (and the ROCm fork's PAI flags num_shared_experts, n_head_kv)
// whose meaning the resolver converts into another key: the experiment holds that key instead.
bool is_converted_alias(const std::string& key);

ProofResult prove_lossless(const ValueMap& megatron, const config::ResolvedConfig& primus);

}  // namespace primus::migrate
