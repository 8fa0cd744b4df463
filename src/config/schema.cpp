#include "config/schema.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "config/closest_names.hpp"
#include "config/layer_freq.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

namespace {

struct RawRow {
  const char* key;
  const char* type;
  const char* megatron_default;
  const char* primus_default;
  const char* primus_file;
  const char* flags;
  const char* choices;
  const char* range;
  const char* group;
  const char* origin;
  const char* effect;
  const char* note;
};

const RawRow kRows[] = {
#define PRIMUS_ARGUMENT(key, cpp, type, mdef, pdef, pfile, flags, choices, range, group, origin, effect, note) \
  {#key, type, mdef, pdef, pfile, flags, choices, range, group, origin, effect, note},
#include "config/generated/arguments.inc"
#undef PRIMUS_ARGUMENT
};

struct RawAlias {
  const char* key;
  const char* target;
  const char* note;
  const char* origin;
};

const RawAlias kAliases[] = {
#define PRIMUS_ARGUMENT(...)
#define PRIMUS_ALIAS(key, target, note, origin) {key, target, note, origin},
#include "config/generated/arguments.inc"
#undef PRIMUS_ALIAS
#undef PRIMUS_ARGUMENT
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

ArgType parse_type(const std::string& t) {
  if (t == "bool") return ArgType::kBool;
  if (t == "int") return ArgType::kInt;
  if (t == "float") return ArgType::kFloat;
  if (t == "str") return ArgType::kStr;
  if (t == "int_list") return ArgType::kIntList;
  if (t == "float_list") return ArgType::kFloatList;
  if (t == "str_list") return ArgType::kStrList;
  if (t == "layer_freq") return ArgType::kLayerFreq;
  fail("arguments table: unknown type '{}'", t);
}

std::string hyphenate(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

}  // namespace

std::string key_of_identifier(const char* identifier) {
  std::string key;
  for (const char* c = identifier; *c; ++c) {
    if (c[0] == '_' && c[1] == '_') {
      key += '.';
      ++c;
    } else {
      key += *c;
    }
  }
  return key;
}

const char* type_description(ArgType type) {
  switch (type) {
    case ArgType::kBool: return "true or false";
    case ArgType::kInt: return "an integer";
    case ArgType::kFloat: return "a number";
    case ArgType::kStr: return "a string";
    case ArgType::kIntList: return "a list of integers";
    case ArgType::kFloatList: return "a list of numbers";
    case ArgType::kStrList: return "a list of strings";
    case ArgType::kLayerFreq: return "an integer or a layer pattern";
  }
  return "?";
}

bool ArgumentSpec::nullable() const {
  if (type == ArgType::kBool || type == ArgType::kLayerFreq) return true;  // null reads as false / unset
  return megatron_default.is_null() || (primus_default && primus_default->is_null()) ||
         (!from_megatron && !primus_default);
}

Schema::Schema() {
  for (const RawRow& r : kRows) {
    ArgumentSpec s;
    s.key = key_of_identifier(r.key);
    s.type_name = r.type;
    s.type = parse_type(r.type);
    s.from_megatron = std::string(r.origin) == "megatron";
    s.megatron_default = s.from_megatron ? parse_flow_literal(r.megatron_default) : Value{};
    if (*r.primus_default) s.primus_default = parse_flow_literal(r.primus_default);
    s.primus_file = r.primus_file;
    for (const auto& f : split(r.flags, ',')) {
      FlagSpelling spelling;
      auto eq = f.find('=');
      spelling.flag = f.substr(0, eq);
      if (eq != std::string::npos) spelling.implied = f.substr(eq + 1) == "true";
      s.flags.push_back(spelling);
    }
    s.choices = split(r.choices, ',');
    s.group = r.group;
    s.range_text = r.range;
    s.range = parse_range(s.key, r.range);
    // "engine", or "engine when KEY == VALUE" for a key the engine reads only in some settings.
    const std::string effect = r.effect;
    s.acted_on = effect == "engine" || effect.starts_with("engine when ");
    if (effect.starts_with("engine when ")) {
      const auto rule = parse_range(s.key, "any when " + effect.substr(12));
      s.acted_on_when = rule.at(0).when;
    }
    s.refused = std::string(r.effect) == "refused";
    s.note = r.note;
    by_key_[s.key] = specs_.size();
    keys_.push_back(s.key);
    specs_.push_back(std::move(s));
  }
  // Megatron spellings first; then --key and --key-with-hyphens for every key. A Megatron flag
  // that names another dest (e.g. --no-position-embedding) keeps its meaning.
  for (const auto& s : specs_)
    for (const auto& f : s.flags) by_flag_.emplace(f.flag, FlagMatch{&s, f.implied});
  for (const auto& s : specs_) {
    by_flag_.emplace("--" + s.key, FlagMatch{&s, std::nullopt});
    by_flag_.emplace(hyphenate(s.key), FlagMatch{&s, std::nullopt});
  }
  for (const RawAlias& a : kAliases) {
    AliasSpec alias{a.key, a.target, false, std::string(a.origin) == "megatron", a.note};
    if (alias.target.starts_with("!")) {
      alias.inverted = true;
      alias.target.erase(0, 1);
    }
    const ArgumentSpec* target = find(alias.target);
    if (!target) fail("arguments table: alias '{}' names unknown key '{}'", alias.key, alias.target);
    if (alias.inverted && target->type != ArgType::kBool)
      fail("arguments table: inverted alias '{}' needs a boolean target", alias.key);
    if (find(alias.key)) fail("arguments table: '{}' is both an argument and an alias", alias.key);
    aliases_.push_back(std::move(alias));
  }
  for (size_t i = 0; i < aliases_.size(); ++i) {
    alias_by_key_[aliases_[i].key] = i;
    keys_.push_back(aliases_[i].key);
    // --layernorm-epsilon / --layernorm_epsilon spell the alias; the resolver canonicalises it.
    const ArgumentSpec* target = find(aliases_[i].target);
    by_flag_.emplace("--" + aliases_[i].key, FlagMatch{target, std::nullopt, &aliases_[i]});
    by_flag_.emplace(hyphenate(aliases_[i].key), FlagMatch{target, std::nullopt, &aliases_[i]});
  }
  std::sort(keys_.begin(), keys_.end());
}

const Schema& Schema::instance() {
  static const Schema schema;
  return schema;
}

const ArgumentSpec* Schema::find(const std::string& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &specs_[it->second];
}

CanonicalKey Schema::canonical(const std::string& key) const {
  if (const ArgumentSpec* spec = find(key)) return {spec, nullptr};
  auto it = alias_by_key_.find(key);
  if (it == alias_by_key_.end()) return {};
  const AliasSpec& alias = aliases_[it->second];
  return {find(alias.target), &alias};
}

FlagMatch Schema::find_flag(const std::string& flag) const {
  auto it = by_flag_.find(flag);
  return it == by_flag_.end() ? FlagMatch{} : it->second;
}

std::string Schema::unknown_key_message(const std::string& key) const {
  return "unknown key '" + printable(key) + "'" + did_you_mean(key, keys_);
}

namespace {

Value coerce_scalar(ArgType type, const ArgumentSpec& spec, const Value& v, const Origin& where) {
  auto bad = [&]() -> Value {
    fail("{}: {} expects {}, got {}", where.describe(), spec.key, type_description(type), v.for_message());
  };
  // Strings from ${VAR} substitution or quotes read like unquoted YAML for typed keys.
  Value x = v.is_string() && type != ArgType::kStr ? parse_plain_scalar(v.as_string()) : v;
  switch (type) {
    case ArgType::kBool:
      if (x.is_bool()) return x;
      if (x.is_int() && (x.as_int() == 0 || x.as_int() == 1)) return Value{x.as_int() == 1};
      return bad();
    case ArgType::kInt:
      if (x.is_int()) return x;
      if (x.is_float() && std::isfinite(x.as_float()) && x.as_float() == std::trunc(x.as_float())) {
        // 1e3 is 1000; a whole number past int64 (99999999999999999999 reads as 1e20) is not an int.
        if (std::fabs(x.as_float()) >= 9223372036854775808.0)
          fail("{}: {} = {} is too large for an integer (at most 9223372036854775807)", where.describe(), spec.key,
               v.for_message());
        return Value{int64_t(x.as_float())};
      }
      return bad();
    case ArgType::kFloat:
      if (x.is_int() || x.is_float()) return Value{x.as_float()};
      return bad();
    case ArgType::kStr:
      if (x.is_string()) return x;
      if (x.is_int() || x.is_float() || x.is_bool()) return Value{x.to_yaml()};
      return bad();
    default:
      return bad();
  }
}

ArgType element_type(ArgType t) {
  switch (t) {
    case ArgType::kIntList: return ArgType::kInt;
    case ArgType::kFloatList: return ArgType::kFloat;
    default: return ArgType::kStr;
  }
}

void check_choice(const ArgumentSpec& spec, const Value& v, const Origin& where) {
  if (spec.choices.empty() || v.is_null()) return;
  std::string text = v.to_display();
  if (std::find(spec.choices.begin(), spec.choices.end(), text) != spec.choices.end()) return;
  std::string all;
  for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
  fail("{}: {} must be one of {}; got '{}'{}", where.describe(), spec.key, all, printable(text),
       did_you_mean(text, spec.choices));
}

}  // namespace

Value Schema::coerce(const ArgumentSpec& spec, const Value& value, const Origin& where) const {
  if (value.is_null()) {
    if (spec.type == ArgType::kBool) return Value{false};  // as Python's None in a flag: off
    // A key without effect here written as null (upstream's "not set"): its default.
    if (!spec.nullable() && !spec.acted_on && !spec.refused) return coerce(spec, spec.effective_default(), where);
    if (!spec.nullable())
      fail("{}: {} needs a value ({}); null is not allowed here", where.describe(), spec.key,
           type_description(spec.type));
    return value;
  }
  if (spec.type == ArgType::kLayerFreq) {
    try {
      LayerFreq parsed = parse_layer_freq(value, spec.key);
      // A pattern stays as the user wrote it (([1]*3+[0])*22+...), as upstream keeps it.
      if (value.is_string() && !parsed.every) return value;
      return parsed.to_value();
    } catch (const Error& e) {
      fail("{}: {}", where.describe(), e.what());
    }
  }
  if (spec.is_list()) {
    Value::List items;
    if (value.is_list()) {
      items = value.as_list();
    } else if (value.is_string() && spec.type == ArgType::kStrList &&
               value.as_string().find_first_of(" \t") != std::string::npos) {
      std::stringstream in(value.as_string());  // "0.3 pathA 0.7 pathB", as on a command line
      std::string word;
      while (in >> word) items.emplace_back(word);
    } else if (value.is_string() && spec.type != ArgType::kStrList && value.as_string().find(',') != std::string::npos) {
      for (const auto& item : split(value.as_string(), ','))  // "0,3,4,7": a list of numbers as text
        items.push_back(parse_plain_scalar(item));
    } else {
      // A scalar the user wrote stays a scalar (moe_router_load_balancing_type: seq_aux_loss), as
      // upstream keeps it; the typed arguments read it as a one-element list.
      Value element = coerce_scalar(element_type(spec.type), spec, value, where);
      check_choice(spec, element, where);
      return element;
    }
    Value::List out;
    for (const auto& item : items) {
      Value element = coerce_scalar(element_type(spec.type), spec, item, where);
      check_choice(spec, element, where);
      out.push_back(std::move(element));
    }
    return Value{out};
  }
  if (value.is_list())
    fail("{}: {} expects {}, got a list {}", where.describe(), spec.key, type_description(spec.type), value.for_message());
  Value out = coerce_scalar(spec.type, spec, value, where);
  check_choice(spec, out, where);
  return out;
}

}  // namespace primus::config
