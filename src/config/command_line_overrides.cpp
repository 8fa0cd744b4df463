#include "config/command_line_overrides.hpp"

#include <algorithm>
#include <cctype>

#include "config/closest_names.hpp"
#include "config/cli_literal.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

namespace {

bool is_flag(const std::string& token) {
  // "-5" or "-1e-3" are values, not flags.
  return token.size() > 2 && token.starts_with("--");
}

// Upstream's bare form: key=value (also nested.key=value and hyphenated Megatron names).
bool is_bare_assignment(const std::string& token) {
  auto eq = token.find('=');
  if (eq == std::string::npos || eq == 0 || token.starts_with("-")) return false;
  for (size_t i = 0; i < eq; ++i) {
    char c = token[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// "true"/"false" in any case, as upstream reads a flag's value.
std::optional<bool> bool_word(const std::string& text) {
  Value v = parse_cli_literal(text);
  if (v.is_bool()) return v.as_bool();
  return std::nullopt;
}

// A value as typed on the command line, for `spec`: strings stay as written (a split "99,1,0"
// stays text), everything else follows upstream's literal rules and is typed by the schema later.
Value cli_value(const ArgumentSpec& spec, const std::string& text) {
  if (spec.type == ArgType::kStr) {
    if (text == "None" || text == "null") return Value{};
    return Value{text};
  }
  // Megatron's moe_freq_type: an integer, or a pattern it evaluates ("([0]*1+[1]*26)"), which
  // is not a literal of a command line.
  if (spec.type == ArgType::kLayerFreq && text.find('[') != std::string::npos) return Value{text};
  return parse_cli_literal(text);
}

// An inverted alias (use_mamba_mem_eff_path = !disable_mamba_mem_eff_path) stores the negation.
Value through_alias(const FlagMatch& m, Value value, const Origin& origin) {
  if (!m.alias || !m.alias->inverted) return value;
  Value b = Schema::instance().coerce(*m.spec, value, origin);
  return Value{!b.as_bool()};
}

}  // namespace

Layer parse_command_line_overrides(const std::vector<std::string>& tokens, ListValues lists) {
  const Schema& schema = Schema::instance();
  Layer layer;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    bool bare = !is_flag(token) && is_bare_assignment(token);
    if (!is_flag(token) && !bare)
      fail("command line: unexpected '{}'; overrides are written --key value, --key=value or key=value",
           printable(token));
    std::string flag = bare ? "--" + token : token, inline_value;
    bool has_inline = false;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline = true;
    }
    FlagMatch m = schema.find_flag(flag);
    if (!m.spec) {
      std::string written = bare ? flag.substr(2) : flag;
      std::string block = flag.substr(2);
      std::vector<std::string> members;
      for (const auto& key : schema.keys())
        if (key.starts_with(block + ".")) members.push_back(key);
      // Its switch (lora.enabled, torch_compile.enable) makes the best example.
      std::stable_partition(members.begin(), members.end(),
                            [](const std::string& k) { return k.ends_with(".enable") || k.ends_with(".enabled"); });
      if (!members.empty())
        fail("command line: '{}' is a block of settings ({}{}); set its keys one by one, e.g. {}={}", printable(block),
             members[0], members.size() > 1 ? ", " + members[1] + ", ..." : "", members[0],
             schema.find(members[0])->type == ArgType::kBool ? "true" : "VALUE");
      fail("command line: unknown argument '{}'{}", printable(written), did_you_mean(written, schema.keys()));
    }
    const ArgumentSpec& spec = *m.spec;
    Origin origin{Origin::Kind::kCommandLine, "", 0, "", token};
    Value value;
    if (m.implied) {
      // store_true / store_false spelling: bare, or with an explicit true/false (--bf16 false).
      bool v = *m.implied;
      if (has_inline) {
        auto b = bool_word(inline_value);
        if (!b) fail("command line: {} takes no value other than true or false (bare, it sets {} to {})", flag, spec.key, v);
        v = *b ? v : !v;
      } else if (i + 1 < tokens.size()) {
        if (auto b = bool_word(tokens[i + 1])) {
          v = *b ? v : !v;
          ++i;
        }
      }
      value = Value{v};
    } else if (has_inline) {
      value = cli_value(spec, inline_value);
    } else if (spec.type == ArgType::kBool) {
      // A bare --flag is true; "--flag true|false" sets it.
      if (i + 1 < tokens.size() && bool_word(tokens[i + 1]))
        value = Value{*bool_word(tokens[++i])};
      else
        value = Value{true};
    } else if (spec.is_list()) {
      // Megatron's nargs lists: every following token up to the next flag (--data-path 0.3 a 0.7 b).
      Value::List items;
      while (i + 1 < tokens.size() && !is_flag(tokens[i + 1]) && !is_bare_assignment(tokens[i + 1]))
        items.push_back(cli_value(spec, tokens[++i]));
      if (items.empty()) fail("command line: {} needs a value ({})", flag, type_description(spec.type));
      value = items.size() == 1 && lists == ListValues::kAsWritten ? items[0] : Value{items};
    } else {
      if (i + 1 >= tokens.size() || is_flag(tokens[i + 1]))
        fail("command line: {} needs a value ({})", flag, type_description(spec.type));
      value = cli_value(spec, tokens[++i]);
    }
    layer.set(spec.key, Setting{through_alias(m, std::move(value), origin), origin});
  }
  return layer;
}

}  // namespace primus::config
