// `primus`: one native binary for configuration, training, data and migration.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "cli/command_words.hpp"
#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"
#include "io/atomic_file.hpp"

namespace {

int report(const std::string& kind, const std::string& message, int status) {
  std::fprintf(stderr, "primus: %s: %s\n", kind.c_str(), primus::one_line_message(message).c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C or a kill while a dataset or checkpoint is being written leaves no temporary file.
  primus::io::install_temporary_file_cleanup();
  CLI::App app{"Primus in C++: Megatron-style LLM training with Primus configuration", "primus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "primus 0.1.0");
  primus::cli::register_config_command(app);
  primus::cli::register_train_command(app);
  primus::cli::register_migrate_command(app);
  primus::cli::register_data_command(app);
  primus::cli::register_parallel_command(app);
  primus::cli::register_checkpoint_command(app);
  primus::cli::register_generate_command(app);
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
    primus::cli::check_command_words(app, args);
    std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
    app.parse(args);
  } catch (const primus::cli::ExitStatus& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return report("error", primus::cli::rephrase_parse_error(e) + " (see --help)", 2);
  } catch (const primus::Interrupted& e) {
    return report("stopped", e.what(), 128 + e.signal());
  } catch (const primus::Error& e) {
    return report("error", e.what(), 2);
  } catch (const std::filesystem::filesystem_error& e) {
    // One line naming the path, whatever part of the program met it.
    std::string where = e.path1().empty() ? std::string() : primus::printable(e.path1().string(), 1000) + ": ";
    return report("error", where + e.code().message(), 2);
  } catch (const std::bad_alloc&) {
    return report("error", "out of memory (lower micro_batch_size or seq_length, or free memory on the machine)", 2);
  } catch (const std::system_error& e) {
    return report("error", e.what(), 2);
  } catch (const std::exception& e) {
    return report("internal error", e.what(), 3);
  }
  return 0;
}
