// `primus train pretrain`: resolve and validate the experiment, then train.
#include <memory>

#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

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
    train::Trainer trainer(resolved);
    trainer.run();
  });
}

}  // namespace primus::cli
