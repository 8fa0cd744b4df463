// Subcommands of the `primus` binary. Each lives in its own <name>_command.cpp and registers
// itself on the root CLI11 app; main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>

namespace primus::cli {

// Thrown by a command that has already told the user what went wrong (e.g. every rank of a
// distributed run agreed on an error that one rank printed): main() exits with `code`, silently.
struct ExitStatus {
  int code = 2;
};

void register_config_command(CLI::App& app);   // primus config show
void register_train_command(CLI::App& app);    // primus train pretrain
void register_data_command(CLI::App& app);     // primus data preprocess
void register_migrate_command(CLI::App& app);  // primus migrate megatron-lm | megatron-args
void register_parallel_command(CLI::App& app); // primus parallel layout
void register_checkpoint_command(CLI::App& app);  // primus checkpoint import-hf | export-hf | inspect | ...
void register_generate_command(CLI::App& app);    // primus generate

}  // namespace primus::cli
