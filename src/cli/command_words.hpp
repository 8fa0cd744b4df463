// The words of a `primus` command line before CLI11 sees them, and CLI11's own errors put in our
// words: an unknown or missing command is named with the commands there are ("unknown command
// 'shwo' for 'primus config'; did you mean 'show'?"), never "A subcommand is required".
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace primus::cli {

// Walks the command words of `args` (in order) through app's subcommands; throws primus::Error
// for an unknown one, or when a command that needs a subcommand gets none. --help and --version
// are left to CLI11.
void check_command_words(const CLI::App& app, const std::vector<std::string>& args);

// The message for a CLI11 parse error, rephrased where CLI11's own is unclear.
std::string rephrase_parse_error(const CLI::ParseError& error);

}  // namespace primus::cli
