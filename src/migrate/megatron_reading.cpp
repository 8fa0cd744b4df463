#include "migrate/megatron_reading.hpp"

#include "config/schema.hpp"
#include "config/validation.hpp"
#include "core/error.hpp"

namespace primus::migrate {

ValueMap final_values_of(const config::ResolvedConfig& resolved) {
  ValueMap out;
  for (const auto& [k, s] : resolved.values) out[k] = s.value;
  for (const auto& [k, s] : resolved.derived) out[k] = s.value;
  return out;
}

MegatronReading read_on_megatron_defaults(const config::Layer& flags, int64_t world_size) {
  const config::Schema& schema = config::Schema::instance();
  MegatronReading out;
  for (const auto& spec : schema.all()) {
    if (const config::Setting* s = flags.find(spec.key)) {
      config::Setting typed{schema.coerce(spec, s->value, s->origin), s->origin};
      out.given[spec.key] = typed.value;
      out.resolved.values[spec.key] = typed;
    } else {
      // Primus-only keys do not exist in Megatron: a migrated run gets Primus' value for them.
      config::Origin o{config::Origin::Kind::kDefault, "Megatron-LM default", 0, "", ""};
      const config::Value& def = spec.from_megatron ? spec.megatron_default : spec.effective_default();
      config::Value typed = schema.coerce(spec, def, o);
      out.given[spec.key] = typed;
      out.resolved.values[spec.key] = config::Setting{typed, o};
    }
  }
  try {
    config::derive_and_validate(out.resolved, world_size);
  } catch (const Error& e) {
    // Megatron's validate_args rules and the argument table's ranges (which are stricter than
    // Megatron's own checks: it trains on adam_beta1 1.5).
    fail("these arguments make no valid run (world size {}): {}", world_size, e.what());
  }
  out.final_values = final_values_of(out.resolved);
  return out;
}

}  // namespace primus::migrate
