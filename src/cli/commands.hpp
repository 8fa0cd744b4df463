// Subcommands of the `primus` binary. Each lives in its own <name>_command.cpp and registers
// itself on the root CLI11 app; main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>

namespace primus::cli {

void register_config_command(CLI::App& app);   // primus config show
void register_train_command(CLI::App& app);    // primus train pretrain
void register_data_command(CLI::App& app);     // primus data preprocess
void register_migrate_command(CLI::App& app);  // primus migrate megatron-lm | megatron-args

}  // namespace primus::cli
