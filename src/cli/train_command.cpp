// `primus train pretrain`: resolve and validate the experiment, then train.
#include <memory>

#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "config/resolved_config.hpp"
#include "core/error.hpp"

namespace primus::cli {

void register_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "Train a model");
  train->require_subcommand(1);
  auto config = std::make_shared<std::string>();
  auto* pretrain = train->add_subcommand(
      "pretrain", "Pretrain a GPT-style decoder from an experiment file (run under mpirun for several processes)");
  pretrain->add_option("--config", *config, "Experiment YAML file")->required();
  allow_overrides(*pretrain);
  pretrain->callback([config, pretrain] {
    config::ResolveOptions ro;
    ro.config = *config;
    ro.overrides = collect_overrides(*pretrain);
    config::ResolvedConfig resolved = config::resolve(ro);
    report_notes(resolved);
    // The configuration is valid; the engine (issue: Engine) plugs in here.
    fail("{}: configuration is valid, but the training engine is not built yet in this version; "
         "use 'primus config show' to inspect the run",
         ro.config.string());
  });
}

}  // namespace primus::cli
