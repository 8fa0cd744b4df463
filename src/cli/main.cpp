// `primus`: one native binary for configuration, training, data and migration.
#include <algorithm>
#include <cstdio>
#include <exception>

#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Primus in C++: Megatron-style LLM training with Primus configuration", "primus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "primus 0.1.0");
  primus::cli::register_config_command(app);
  primus::cli::register_train_command(app);
  primus::cli::register_migrate_command(app);
  primus::cli::register_data_command(app);
  try {
    // Everything after --megatron-args is a pasted Megatron flag list, not options of ours.
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) == "--megatron-args") {
        primus::cli::megatron_args().assign(argv + i + 1, argv + argc);
        break;
      }
      args.emplace_back(argv[i]);
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "primus: error: %s (see --help)\n", e.what());
    return 2;
  } catch (const primus::Error& e) {
    std::fprintf(stderr, "primus: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "primus: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
