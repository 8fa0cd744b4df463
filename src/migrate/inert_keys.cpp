#include "migrate/inert_keys.hpp"

#include <algorithm>
#include <initializer_list>

#include "config/schema.hpp"

namespace primus::migrate {

namespace {

const config::Value* find(const config::ResolvedConfig& r, const std::string& key) {
  if (auto it = r.derived.find(key); it != r.derived.end()) return &it->second.value;
  if (auto it = r.values.find(key); it != r.values.end()) return &it->second.value;
  return nullptr;
}

bool is_on(const config::ResolvedConfig& r, const char* key) {
  const config::Value* v = find(r, key);
  return v && v->is_bool() && v->as_bool();
}

bool is_set(const config::ResolvedConfig& r, const char* key) {
  const config::Value* v = find(r, key);
  return v && !v->is_null();
}

bool one_of(const std::string& key, std::initializer_list<const char*> keys) {
  return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; });
}

}  // namespace

std::string inert_reason(const std::string& key, const config::ResolvedConfig& resolved) {
  const config::ArgumentSpec* spec = config::Schema::instance().find(key);
  if (!spec) return "";
  if (!spec->acted_on ||
      std::find(resolved.without_effect.begin(), resolved.without_effect.end(), key) != resolved.without_effect.end())
    return "no effect on this engine";
  // The engine reads the latent-attention sizes and every RoPE-scaling value only when it builds
  // multi-latent attention (model_config.cpp, read_mla); dense attention uses rotary_base alone.
  const bool latent = is_on(resolved, "multi_latent_attention");
  if (!latent && (spec->group == "mla" || key == "rope_type")) return "used only with multi_latent_attention";
  if (latent && one_of(key, {"mscale", "original_max_position_embeddings", "beta_fast", "beta_slow"})) {
    const config::Value* type = find(resolved, "rope_type");
    // Megatron-Core's MLATransformerConfig default is yarn.
    if (type && type->is_string() && type->as_string() != "yarn") return "used only with rope_type yarn";
  }
  // Megatron adds learned position embeddings only for learned_absolute (rope, none: no table).
  if (key == "add_position_embedding") {
    const config::Value* type = find(resolved, "position_embedding_type");
    if (type && type->is_string() && type->as_string() != "learned_absolute")
      return "used only with position_embedding_type learned_absolute";
  }
  if (!is_set(resolved, "num_experts") && spec->group == "moe" && key.starts_with("moe_"))
    return "used only with num_experts (a mixture-of-experts model)";
  return "";
}

}  // namespace primus::migrate
