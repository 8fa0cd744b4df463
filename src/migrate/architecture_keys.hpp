// The keys that make a model what it is — shapes, attention, normalization, activation, position
// embedding, experts, latent attention. A zoo preset matches a script when all of these that
// apply to the two models are equal; everything else (sequence length, fusions, dropout, the
// tokenizer, training settings) is the run's choice and goes to the experiment's overrides.
#pragma once

#include <string>
#include <vector>

#include "migrate/megatron_reading.hpp"

namespace primus::migrate {

const std::vector<std::string>& architecture_keys();

bool is_architecture_key(const std::string& key);

// The architecture keys that mean something for models `a` and `b`: expert keys only when
// either has experts, latent-attention keys only with multi-latent attention, rope keys only
// with rotary embeddings, add_position_embedding only with learned absolute positions.
std::vector<std::string> relevant_architecture_keys(const ValueMap& a, const ValueMap& b);

// Keys of `relevant_architecture_keys(a, b)` whose values differ.
std::vector<std::string> architecture_differences(const ValueMap& a, const ValueMap& b);

// How much a differing key changes what the model is: 100 for its kind (model_type, latent
// attention, experts or not, hybrid/linear-attention layers), 20 for the norm, activation and
// position embedding, 5 for attention details (GQA, QK-norm, biases, tied embeddings), 1 for sizes.
int architecture_weight(const std::string& key, const ValueMap& a, const ValueMap& b);
constexpr int kKindWeight = 100;

}  // namespace primus::migrate
