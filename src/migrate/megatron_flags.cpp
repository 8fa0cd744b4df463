#include "migrate/megatron_flags.hpp"

#include "config/closest_names.hpp"
#include "config/command_line_overrides.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"

namespace primus::migrate {

namespace {

bool is_flag(const std::string& token) { return token.size() > 2 && token.starts_with("--"); }

const std::vector<std::string>& all_flag_spellings() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> out;
    for (const auto& spec : config::Schema::instance().all())
      for (const auto& f : spec.flags) out.push_back(f.flag);
    return out;
  }();
  return flags;
}

}  // namespace

std::string UnknownFlag::text() const {
  std::string out = flag;
  for (const auto& v : values) out += " " + v;
  return out;
}

std::string describe_unknown(const std::vector<UnknownFlag>& unknown) {
  std::string out;
  for (const auto& u : unknown) out += (out.empty() ? "" : ", ") + u.text() + u.suggestion;
  return out;
}

MegatronFlags read_megatron_flags(const std::vector<std::string>& tokens) {
  const config::Schema& schema = config::Schema::instance();
  MegatronFlags out;
  std::vector<std::string> known;
  size_t i = 0;
  if (i < tokens.size() && !is_flag(tokens[i]))
    fail("training argument '{}' is not a flag: pretrain_gpt.py takes only --flags (is a launcher option or a "
         "stray word in the launch line?)",
         tokens[i]);
  while (i < tokens.size()) {
    // One flag and the values that follow it.
    size_t end = i + 1;
    while (end < tokens.size() && !is_flag(tokens[end])) ++end;
    std::string flag = tokens[i].substr(0, tokens[i].find('='));
    if (schema.find_flag(flag).spec) {
      known.insert(known.end(), tokens.begin() + std::ptrdiff_t(i), tokens.begin() + std::ptrdiff_t(end));
    } else {
      UnknownFlag u;
      u.flag = tokens[i];
      u.values.assign(tokens.begin() + std::ptrdiff_t(i) + 1, tokens.begin() + std::ptrdiff_t(end));
      u.suggestion = config::did_you_mean(flag, all_flag_spellings());
      out.unknown.push_back(std::move(u));
    }
    i = end;
  }
  out.layer = config::parse_command_line_overrides(known, config::ListValues::kMegatron);
  return out;
}

}  // namespace primus::migrate
