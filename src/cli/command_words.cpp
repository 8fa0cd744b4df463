#include "cli/command_words.hpp"

#include "config/closest_names.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::cli {

namespace {

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

std::string path_of(const std::vector<std::string>& words) {
  std::string out = "primus";
  for (const auto& w : words) out += " " + w;
  return out;
}

std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

bool asks_for_help(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h" || a == "--version") return true;
  return false;
}

}  // namespace

void check_command_words(const CLI::App& app, const std::vector<std::string>& args) {
  if (asks_for_help(args)) return;
  const CLI::App* level = &app;
  std::vector<std::string> words;
  for (const auto& token : args) {
    const auto names = subcommand_names(*level);
    if (names.empty()) return;              // options and arguments of a command: CLI11's business
    if (token.starts_with("-")) break;      // an option before the command word
    const CLI::App* sub = nullptr;
    for (const CLI::App* candidate : level->get_subcommands([](const CLI::App*) { return true; }))
      if (candidate->get_name() == token) sub = candidate;
    if (sub == nullptr)
      fail("unknown command '{}' for '{}' (its commands: {}){}", printable(token), path_of(words), listed(names),
           config::did_you_mean(token, names));
    words.push_back(token);
    level = sub;
  }
  const auto names = subcommand_names(*level);
  if (!names.empty())
    fail("'{}' needs a command: {} (see {} --help)", path_of(words), listed(names), path_of(words));
}

std::string rephrase_parse_error(const CLI::ParseError& error) {
  const std::string what = error.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    const std::string prefix = "The following argument";
    const auto colon = what.find(": ");
    if (what.starts_with(prefix) && colon != std::string::npos)
      return "unexpected argument(s) " + printable(what.substr(colon + 2));
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    // "--input: At Most 1 required but received 2"
    const auto colon = what.find(": At Most 1 required but received");
    if (colon != std::string::npos) return printable(what.substr(0, colon)) + " is given more than once";
  }
  return printable(what, 1000);
}

}  // namespace primus::cli
