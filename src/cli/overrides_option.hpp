// Shared by every subcommand that resolves an experiment: unknown options on its command line
// are configuration overrides, and everything after `--megatron-args` is a Megatron flag list.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/resolved_config.hpp"

namespace primus::cli {

void allow_overrides(CLI::App& command);
std::vector<std::string> collect_overrides(const CLI::App& command);
// Prints the resolver's notes and the "accepted, no effect on this engine" list to stderr.
void report_notes(const config::ResolvedConfig& resolved);

// main() moves everything after `--megatron-args` here before CLI11 parses the rest.
std::vector<std::string>& megatron_args();

}  // namespace primus::cli
