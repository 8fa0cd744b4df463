#include "config/resolved_config.hpp"

#include <charconv>
#include <cstdlib>
#include <numeric>

#include <fmt/format.h>

#include "config/command_line_overrides.hpp"
#include "config/config_paths.hpp"
#include "config/experiment_file.hpp"
#include "config/preset_loader.hpp"
#include "config/schema.hpp"
#include "config/validation.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"
#include "core/input_file.hpp"
#include "core/message_text.hpp"

namespace fs = std::filesystem;

namespace primus::config {

const Setting& ResolvedConfig::at(const std::string& key) const {
  if (auto it = values.find(key); it != values.end()) return it->second;
  if (auto it = derived.find(key); it != derived.end()) return it->second;
  fail("internal: no resolved value for '{}'", key);
}

namespace {

// Every key in a layer must be an argument this project knows; aliases (Megatron-LM's newer dest
// names, fork spellings) become the key they name.
Layer canonical(const Layer& layer, std::vector<std::string>* notes = nullptr) {
  const Schema& schema = Schema::instance();
  Layer out;
  for (const auto& [key, setting] : layer.settings()) {
    CanonicalKey c = schema.canonical(key);
    if (!c.spec) fail("{}: {}", setting.origin.describe(), schema.unknown_key_message(key));
    Setting s = setting;
    if (c.alias) {
      if (c.alias->inverted) s.value = Value{!schema.coerce(*c.spec, s.value, s.origin).as_bool()};
      if (const Setting* both = layer.find(c.spec->key); both && !(schema.coerce(*c.spec, both->value, both->origin) ==
                                                                     schema.coerce(*c.spec, s.value, s.origin))) {
        // Both names in one file: Megatron-LM reads its own dest (layernorm_epsilon) and ignores
        // Primus' name, so that one wins; other aliases disagreeing is an error.
        if (!c.alias->megatron_dest)
          fail("{}: {} sets {} (its alias) to {}, but {} sets {} to {}", s.origin.describe(), key, c.spec->key,
               s.value.to_yaml(), both->origin.describe(), c.spec->key, both->value.to_yaml());
        if (notes)
          notes->push_back(fmt::format("{} and {} both set {}: Megatron-LM reads {} = {}, so that value applies",
                                       s.origin.describe(), both->origin.describe(), c.spec->key, key, s.value.to_yaml()));
        out.set(c.spec->key, std::move(s));
        continue;
      }
      if (const Setting* both = layer.find(c.spec->key); both && c.alias->megatron_dest) {
        out.set(c.spec->key, std::move(s));
        continue;
      }
    }
    if (c.alias == nullptr && out.find(c.spec->key)) continue;  // its Megatron-LM alias already set it
    out.set(c.spec->key, std::move(s));
  }
  return out;
}

std::optional<int64_t> world_size_from_environment() {
  // mpirun (OpenMPI) and torchrun-style launchers.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE"})
    if (const char* v = std::getenv(name); v && *v) {
      const std::string text = v;
      int64_t n = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n <= 0 || n > kMaxWorldSize)
        fail("environment: {}='{}' is not a process count (1 to {})", name, printable(text, 40), kMaxWorldSize);
      return n;
    }
  return std::nullopt;
}

// The smallest process count Megatron's rules allow for the typed layout: a multiple of
// tensor × pipeline × context and of expert-tensor × expert × pipeline. nullopt when a size is
// not a plain positive count (the validation names it then).
std::optional<int64_t> smallest_world_size(const ResolvedConfig& c) {
  const auto size = [&](const char* key) -> std::optional<int64_t> {
    const Value& v = c.values.at(key).value;
    if (!v.is_int() || v.as_int() < 1 || v.as_int() > kMaxWorldSize) return std::nullopt;
    return v.as_int();
  };
  const auto tp = size("tensor_model_parallel_size"), pp = size("pipeline_model_parallel_size"),
             cp = size("context_parallel_size"), ep = size("expert_model_parallel_size");
  if (!tp || !pp || !cp || !ep) return std::nullopt;
  std::optional<int64_t> etp = tp;
  if (!c.values.at("expert_tensor_parallel_size").value.is_null()) etp = size("expert_tensor_parallel_size");
  if (!etp) return std::nullopt;
  // Each factor is at most kMaxWorldSize (2^24): the products below stay far from overflow.
  const int64_t dense = *tp * *pp, expert = *etp * *ep;
  if (dense > kMaxWorldSize || expert > kMaxWorldSize || dense * *cp > kMaxWorldSize || expert * *pp > kMaxWorldSize)
    return std::nullopt;
  const int64_t d = dense * *cp, e = expert * *pp;
  const int64_t smallest = d / std::gcd(d, e) * e;
  if (smallest > kMaxWorldSize) return std::nullopt;
  return smallest;
}

}  // namespace

ResolvedConfig resolve(const ResolveOptions& options) {
  check_input_file(options.config, "experiment file");
  ExperimentFile exp = read_experiment_file(options.config);
  ResolvedConfig out;
  out.experiment = options.config;
  out.module = exp.module;
  if (exp.trainer_class)
    fail("{}: trainer_class {}: this experiment runs a custom upstream trainer (a diffusion model such as Flux, "
         "model {}); Primus in C++ trains Megatron's GPT language models",
         exp.trainer_class_at, printable(*exp.trainer_class), exp.model ? printable(*exp.model) : "not named");
  if (!exp.ignored_top_level.empty()) {
    std::string keys;
    for (const auto& k : exp.ignored_top_level) keys += (keys.empty() ? "" : ", ") + k;
    out.notes.push_back("outside modules." + exp.module + ".overrides, these top-level settings set nothing (as in "
                        "upstream Primus, which reads only the module and the run folder's fields): " + keys +
                        "; move them under modules." + exp.module + ".overrides to apply them");
  }
  if (!exp.environment_like.empty()) {
    std::string keys;
    for (const auto& k : exp.environment_like) keys += (keys.empty() ? "" : ", ") + k;
    out.notes.push_back("environment variables written among the overrides set no argument (upstream Primus ignores "
                        "them too); export them before the run instead: " + keys);
  }

  // 1. Trainer defaults (pre_trainer.yaml -> trainer_base.yaml).
  fs::path exp_dir = options.config.parent_path();
  LoadedPreset trainer = load_preset_chain(
      {exp.module_config, exp_dir, builtin_modules_dir(), exp.module_config_at, Origin::Kind::kDefault});
  Layer merged = trainer.layer;
  // 2. Model preset chain.
  if (exp.model) {
    LoadedPreset model = load_preset_chain({*exp.model, exp_dir, builtin_models_dir(), exp.model_at, Origin::Kind::kPreset});
    out.model_preset = model.path;
    merged.merge_from(canonical(model.layer, &out.notes));
  }
  // 3. The experiment's overrides, 4. the command line.
  merged.merge_from(canonical(exp.overrides, &out.notes));
  merged.merge_from(canonical(parse_command_line_overrides(options.overrides)));
  merged = canonical(merged);  // a custom trainer config may hold unknown keys or aliases too

  // Type every value; keys nothing set get the schema's default.
  const Schema& schema = Schema::instance();
  for (const auto& spec : schema.all()) {
    if (const Setting* s = merged.find(spec.key)) {
      out.values[spec.key] = Setting{schema.coerce(spec, s->value, s->origin), s->origin};
    } else {
      Origin o{Origin::Kind::kDefault, "schema default", 0, "", ""};
      out.values[spec.key] = Setting{schema.coerce(spec, spec.effective_default(), o), o};
    }
  }

  std::optional<int64_t> world = options.world_size ? options.world_size : world_size_from_environment();
  if (!world && options.smallest_world_when_unset)
    if (const auto smallest = smallest_world_size(out); smallest && *smallest > 1) {
      world = smallest;
      out.notes.push_back(fmt::format(
          "no --world-size given: resolved for {} processes, the smallest this parallel layout allows; training "
          "needs the real process count (mpirun -np N, or --world-size N here)",
          *smallest));
    }
  derive_and_validate(out, world.value_or(1));
  return out;
}

}  // namespace primus::config
