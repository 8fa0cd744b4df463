#include "config/command_line_overrides.hpp"

#include "config/closest_names.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

namespace {

bool is_flag(const std::string& token) {
  // "-5" or "-1e-3" are values, not flags.
  return token.size() > 2 && token.starts_with("--");
}

}  // namespace

Layer parse_command_line_overrides(const std::vector<std::string>& tokens) {
  const Schema& schema = Schema::instance();
  Layer layer;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (!is_flag(token))
      fail("command line: unexpected '{}'; overrides are written --key value or --key=value", printable(token));
    std::string flag = token, inline_value;
    bool has_inline = false;
    if (auto eq = token.find('='); eq != std::string::npos) {
      flag = token.substr(0, eq);
      inline_value = token.substr(eq + 1);
      has_inline = true;
    }
    FlagMatch m = schema.find_flag(flag);
    if (!m.spec) {
      fail("command line: unknown argument '{}'{}", printable(flag), did_you_mean(flag, schema.keys()));
    }
    const ArgumentSpec& spec = *m.spec;
    Origin origin{Origin::Kind::kCommandLine, "", 0, "", token};
    Value value;
    if (m.implied) {
      // store_true / store_false spelling: bare, or with an explicit boolean.
      bool v = *m.implied;
      if (has_inline) {
        Value b = parse_plain_scalar(inline_value);
        if (!b.is_bool()) fail("command line: {} takes no value (it sets {} to {})", flag, spec.key, v);
        v = b.as_bool() ? v : !v;
      }
      value = Value{v};
    } else if (has_inline) {
      value = parse_plain_scalar(inline_value);
      if (!inline_value.empty() && inline_value.front() == '[') value = parse_flow_literal(inline_value);
    } else if (spec.type == ArgType::kBool) {
      // A bare --flag is true; "--flag false" is accepted too.
      if (i + 1 < tokens.size() && parse_plain_scalar(tokens[i + 1]).is_bool())
        value = parse_plain_scalar(tokens[++i]);
      else
        value = Value{true};
    } else if (spec.is_list()) {
      Value::List items;
      while (i + 1 < tokens.size() && !is_flag(tokens[i + 1])) items.push_back(parse_plain_scalar(tokens[++i]));
      if (items.size() == 1 && items[0].is_string() && items[0].as_string().starts_with("["))
        value = parse_flow_literal(items[0].as_string());
      else
        value = Value{items};
    } else {
      if (i + 1 >= tokens.size() || is_flag(tokens[i + 1]))
        fail("command line: {} needs a value ({})", flag, type_description(spec.type));
      const std::string& text = tokens[++i];
      value = (!text.empty() && text.front() == '[') ? parse_flow_literal(text) : parse_plain_scalar(text);
    }
    layer.set(spec.key, Setting{value, origin});
  }
  return layer;
}

}  // namespace primus::config
