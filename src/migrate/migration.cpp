#include "migrate/migration.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "config/config_paths.hpp"
#include "config/preset_loader.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"
#include "core/output_folder.hpp"
#include "io/atomic_file.hpp"
#include "migrate/architecture_keys.hpp"
#include "migrate/entry_points.hpp"
#include "migrate/inert_keys.hpp"
#include "migrate/megatron_reading.hpp"
#include "migrate/migration_yaml.hpp"
#include "migrate/preset_match.hpp"
#include "migrate/scratch_dir.hpp"

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

constexpr int kMaxRounds = 4;

// Each key before derivation on Primus' side: trainer defaults, then the model preset chain.
struct PrimusGiven {
  ValueMap values;
  std::map<std::string, config::Origin> origins;
};

PrimusGiven primus_given(const std::string& model, const fs::path& model_dir) {
  const config::Schema& schema = config::Schema::instance();
  config::Layer merged =
      config::load_preset_chain({"pre_trainer.yaml", {}, config::builtin_modules_dir(), "", config::Origin::Kind::kDefault})
          .layer;
  merged.merge_from(
      config::load_preset_chain({model, model_dir, config::builtin_models_dir(), "", config::Origin::Kind::kPreset}).layer);
  PrimusGiven out;
  for (const auto& spec : schema.all()) {
    if (const config::Setting* s = merged.find(spec.key)) {
      out.values[spec.key] = schema.coerce(spec, s->value, s->origin);
      out.origins[spec.key] = s->origin;
    } else {
      out.values[spec.key] = schema.coerce(spec, spec.effective_default(), config::Origin{});
      out.origins[spec.key] = config::Origin{};
    }
  }
  return out;
}

// The conversions the resolver applies to Megatron's deprecated spellings and to the ROCm fork's
// PAI-Megatron-Patch flags: the experiment holds the key they turn into (is_converted_alias).
struct Alias {
  const char* key;
  const char* flag;
  const char* target;
  bool show_rule;  // the comment names the rule ("num_shared_experts × moe_ffn_hidden_size")
};
constexpr Alias kAliases[] = {
    {"use_rotary_position_embeddings", "--use-rotary-position-embeddings", "position_embedding_type", false},
    {"recompute_activations", "--recompute-activations", "recompute_granularity", false},
    {"num_shared_experts", "--num-shared-experts", "moe_shared_expert_intermediate_size", true},
    {"n_head_kv", "--n-head-kv", "num_query_groups", false},
    {"n_head_kv", "--n-head-kv", "group_query_attention", false}};

// The alias (set by the script) that the resolver turned into `target`, if any.
const Alias* converted_into(const std::string& target, const MegatronReading& megatron, const config::Layer& flags) {
  for (const auto& a : kAliases) {
    if (target != a.target || !flags.find(a.key)) continue;
    const config::Origin& o = megatron.resolved.values.at(target).origin;
    if (o.kind == config::Origin::Kind::kDerived && o.detail.find(a.key) != std::string::npos) return &a;
  }
  return nullptr;
}

// Messages of the resolver name the options of `config show` and `train`; inside migrate the
// run's layout is stated with migrate's own options (the request's layout_hint, appended to the
// message), and model keys come from the script's flags.
std::string in_migrate_terms(std::string message) {
  const std::string world = " (--world-size / mpirun -np)";
  if (auto at = message.find(world); at != std::string::npos) message.erase(at, world.size());
  for (const char* given : {"give it in the model preset, the experiment's overrides or as --",
                            "give it a value in the model preset, the experiment's overrides or as --"})
    if (auto at = message.find(given); at != std::string::npos) {
      // "... or as --num_layers N" -> "the flags must give it: --num-layers N" (Megatron's spelling).
      size_t key = at + std::string(given).size();
      size_t end = message.find(' ', key);
      if (end == std::string::npos) end = message.size();
      std::string flag = message.substr(key, end - key);
      std::replace(flag.begin(), flag.end(), '_', '-');
      message.replace(at, end - at, "the flags must give it: --" + flag);
    }
  return message;
}

std::string no_effect_suffix(const std::string& key) {
  const config::ArgumentSpec* spec = config::Schema::instance().find(key);
  return spec && !spec->acted_on ? " (no effect on this engine)" : "";
}

// Why a key the script did not set is written.
std::string comment_for(const std::string& key, const MegatronReading& megatron, const config::Layer& flags,
                        const PrimusGiven& given, const std::string& model) {
  std::string comment;
  if (const Alias* a = converted_into(key, megatron, flags))
    comment = a->show_rule ? fmt::format("from {}: {}", a->flag, megatron.resolved.values.at(key).origin.detail)
                           : fmt::format("from {}", a->flag);
  if (comment.empty() && !flags.find(key)) {
    const config::Origin& mo = megatron.resolved.values.at(key).origin;
    if (mo.kind == config::Origin::Kind::kDerived) {
      comment = fmt::format("Megatron-LM derives it ({})", mo.detail);
    } else {
      const config::Origin& po = given.origins.at(key);
      std::string theirs = given.values.at(key).to_yaml();
      comment = po.kind == config::Origin::Kind::kPreset
                    ? fmt::format("Megatron-LM default; {} sets {}", model, theirs)
                    : fmt::format("Megatron-LM default; Primus' default is {}", theirs);
    }
  }
  std::string suffix = no_effect_suffix(key);
  if (comment.empty() && !suffix.empty()) return suffix.substr(2, suffix.size() - 3);
  return comment + suffix;
}

// A model preset for an architecture no zoo preset has: the family base and the keys that differ.
std::vector<OverrideEntry> new_preset_keys(const MegatronReading& megatron, const std::string& base,
                                           const fs::path& trial_dir, const std::string& preset_name,
                                           const std::vector<std::string>& header) {
  // A family base need not resolve on its own (llama3_base has GQA without a group count): compare
  // with its keys as given, then let the resolver check the new preset.
  ValueMap base_values = primus_given(base, config::builtin_models_dir()).values;
  std::map<std::string, config::Value> keys;
  for (const auto& key : architecture_differences(megatron.final_values, base_values)) {
    // Values Megatron derives itself (kv_channels, moe_ffn_hidden_size, ...) are derived here too.
    if (megatron.resolved.values.at(key).origin.kind == config::Origin::Kind::kDerived) continue;
    keys[key] = megatron.final_values.at(key);
  }
  for (int round = 0; round < kMaxRounds; ++round) {
    PresetText text{header, base, {}};
    for (const auto& [k, v] : keys) text.keys.push_back({k, v, ""});
    io::write_file_atomically(trial_dir / preset_name, render_preset(text), false);
    ValueMap resolved = resolve_preset_values(trial_dir / preset_name, trial_dir);
    auto remaining = architecture_differences(megatron.final_values, resolved);
    if (remaining.empty()) return text.keys;
    bool changed = false;
    for (const auto& key : remaining)
      if (!keys.count(key) || !(keys[key] == megatron.final_values.at(key))) {
        keys[key] = megatron.final_values.at(key);
        changed = true;
      }
    if (!changed) break;
  }
  fail("cannot express this architecture as a preset on {}: keys still differ after {} rounds", base, kMaxRounds);
}

}  // namespace

MigrationResult migrate(const MigrationRequest& request) {
  MigrationResult result;
  result.world_size = request.launch.layout.world_size();
  std::vector<std::string> args = request.launch.training_args;
  const std::vector<ImpliedFlag> implied = implied_flags(request.launch, args);
  for (const auto& f : implied) args.push_back(f.flag);
  MegatronFlags flags = read_megatron_flags(args);
  result.unknown = flags.unknown;
  for (const auto& [key, setting] : flags.layer.settings()) result.script_keys.push_back(key);
  if (!flags.unknown.empty() && !request.keep_unknown)
    fail("{} argument(s) unknown to Megatron-LM's argument table: {}; fix or remove them, or pass --keep-unknown "
         "to carry them along as comments (the migration is then not lossless)",
         flags.unknown.size(), describe_unknown(flags.unknown));
  MegatronReading megatron = [&] {
    try {
      return read_on_megatron_defaults(flags.layer, result.world_size);
    } catch (const Error& e) {
      fail("{} [the run's {}; {}]", in_migrate_terms(e.what()), request.launch.describe_layout(), request.layout_hint);
    }
  }();
  for (const auto& a : kAliases)
    if (converted_into(a.target, megatron, flags.layer) == &a)
      result.conversions.push_back(
          fmt::format("{} -> {}: {}", a.flag, a.target, megatron.final_values.at(a.target).to_yaml()));
  for (const auto& f : implied)
    result.conversions.push_back(fmt::format("{} -> {}: {} ({})", other_entry_point(request.launch), f.key,
                                             megatron.final_values.at(f.key).to_yaml(), f.why));

  ScratchDir scratch;
  fs::path trial = scratch.path();
  // What may name the model's family: the tokenizer and the script's own name.
  std::string hints = request.source + " " + request.default_stem;
  for (const char* key : {"tokenizer_model", "tokenizer_type"})
    if (megatron.final_values.at(key).is_string()) hints += " " + megatron.final_values.at(key).as_string();
  PresetMatch match = match_preset(megatron.final_values, trial, hints);
  result.family_note = match.family_note;

  // Names of the files to write.
  std::string preset_name, stem;
  std::vector<std::string> preset_header;
  if (match.exact()) {
    result.zoo_match = true;
    result.model = match.best().name;
    size_t arch = relevant_architecture_keys(megatron.final_values, match.best().values).size();
    result.match_explanation = fmt::format("zoo preset; all {} architecture keys equal", arch);
    stem = request.name.empty() ? fs::path(result.model).stem().string() + "-pretrain" : request.name;
  } else {
    std::string base = request.name.empty() ? request.default_stem : request.name;
    preset_name = base + "_model.yaml";
    stem = request.name.empty() ? base + "-pretrain" : request.name;
    result.model = preset_name;
    result.match_explanation =
        fmt::format("new preset on {}; no zoo preset matches: {}", match.family_base, match.explain_closest(megatron.final_values));
    preset_header = {fmt::format("Model preset written by `primus migrate` from {}.", request.source),
                     fmt::format("No zoo preset has this architecture ({}),", match.explain_closest(megatron.final_values)),
                     fmt::format("so it is {} with the keys that differ below.", match.family_base)};
  }
  std::vector<OverrideEntry> preset_keys;
  if (!preset_name.empty())
    preset_keys = new_preset_keys(megatron, match.family_base, trial, preset_name, preset_header);

  // The overrides: start from the keys given differently, then let the resolver show what remains.
  PrimusGiven given = primus_given(result.model, trial);
  std::map<std::string, config::Value> overrides;
  for (const auto& [key, value] : megatron.given) {
    if (!is_compared_key(key) || is_converted_alias(key)) continue;
    const config::Value& theirs = given.values.at(key);
    if (!(value == theirs) && !(megatron.final_values.at(key) == theirs)) overrides[key] = value;
  }
  fs::path experiment_name = stem + ".yaml";
  ExperimentText text;
  text.exp_name = stem;
  text.model = result.model;
  text.header = {
      fmt::format("Migrated from {} by `primus migrate`.", request.source),
      fmt::format("Launch: {}", request.launch.describe()),
      fmt::format("  = {}.", request.launch.describe_layout()),
      fmt::format("Resolve it for that layout: primus config show --config {} --world-size {}",
                  (request.output_dir / experiment_name).string(), result.world_size),
      fmt::format("Model: {} ({}).", result.model, result.zoo_match ? result.match_explanation : "written alongside"),
      "The overrides hold only what differs from the model preset and Primus' trainer defaults",
      "(pre_trainer.yaml), including the Megatron-LM defaults the script relied on."};
  if (!result.family_note.empty()) text.header.insert(text.header.begin() + 5, "Note: " + result.family_note + ".");
  result.entry_point_note = entry_point_note(request.launch);
  if (!result.entry_point_note.empty()) text.header.insert(text.header.begin() + 3, "Note: " + result.entry_point_note + ".");
  if (!flags.unknown.empty())
    text.header.push_back(fmt::format("NOT lossless: {} flag(s) of the script are kept below only as comments; what "
                                      "they did is not in this experiment.",
                                      flags.unknown.size()));
  for (const auto& u : flags.unknown)
    text.trailing.push_back(fmt::format("unknown to this engine, kept from the script: {}", u.text()));

  auto render = [&] {
    text.overrides.clear();
    text.inert.clear();
    for (const auto& [k, v] : overrides) {
      std::string comment = comment_for(k, megatron, flags.layer, given, result.model);
      for (const auto& f : implied)
        if (f.key == k) comment = fmt::format("{}: {}", other_entry_point(request.launch), f.why);
      std::string inert = inert_reason(k, megatron.resolved);
      if (inert.empty()) {
        text.overrides.push_back({k, v, comment});
      } else {
        if (comment.find(inert) == std::string::npos) comment += comment.empty() ? inert : " (" + inert + ")";
        text.inert.push_back({k, v, comment});
      }
    }
    return render_experiment(text);
  };
  ProofResult proof;
  for (int round = 0; round < kMaxRounds; ++round) {
    io::write_file_atomically(trial / experiment_name, render(), false);
    config::ResolveOptions options;
    options.config = trial / experiment_name;
    options.world_size = result.world_size;
    try {
      proof = prove_lossless(megatron.final_values, config::resolve(options));
    } catch (const Error& e) {
      fail("the migrated experiment does not resolve although Megatron-LM accepts the arguments: {}",
           in_migrate_terms(e.what()));
    }
    if (proof.lossless()) break;
    bool changed = false;
    for (const auto& d : proof.differences)
      if (!overrides.count(d.key) || !(overrides[d.key] == d.megatron)) {
        overrides[d.key] = d.megatron;
        changed = true;
      }
    if (!changed) break;
  }
  // Drop what the resolver derives the same way anyway (sequence_parallel with TP 1, ...): keys
  // the script did not set, whose removal keeps the proof lossless.
  if (proof.lossless()) {
    std::vector<std::string> candidates;
    for (const auto& [key, value] : overrides)
      if (!flags.layer.find(key)) candidates.push_back(key);
    for (const auto& key : candidates) {
      config::Value kept = overrides[key];
      overrides.erase(key);
      io::write_file_atomically(trial / experiment_name, render(), false);
      config::ResolveOptions options;
      options.config = trial / experiment_name;
      options.world_size = result.world_size;
      bool still_lossless = false;
      try {
        still_lossless = prove_lossless(megatron.final_values, config::resolve(options)).lossless();
      } catch (const Error&) {
      }
      if (!still_lossless) overrides[key] = kept;
    }
  }
  result.override_count = overrides.size();

  // Write the files, then prove what was written.
  prepare_output_folder(request.output_dir, "output folder");
  if (!preset_name.empty()) {
    result.preset_file = request.output_dir / preset_name;
    io::write_file_atomically(*result.preset_file, render_preset({preset_header, match.family_base, preset_keys}));
  }
  result.experiment_file = request.output_dir / experiment_name;
  io::write_file_atomically(result.experiment_file, render());
  config::ResolveOptions options;
  options.config = result.experiment_file;
  options.world_size = result.world_size;
  result.resolved = config::resolve(options);
  result.proof = prove_lossless(megatron.final_values, result.resolved);
  for (const auto& u : flags.unknown) result.proof.dropped.push_back(u.text());
  return result;
}

}  // namespace primus::migrate
