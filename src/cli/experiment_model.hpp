// What the checkpoint and generation commands need from an experiment: the resolved
// configuration, its tokenizer, the model's configuration and the model itself (built once, for
// conversion and generation on one process).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/model_tensors.hpp"
#include "config/resolved_config.hpp"
#include "data/tokenizer/tokenizer.hpp"
#include "model/gpt_model.hpp"

namespace primus::cli {

struct ExperimentModel {
  config::ResolvedConfig resolved;
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::optional<std::filesystem::path> tokenizer_json;  // when the tokenizer is a tokenizer.json
  model::ModelConfig config;
  std::unique_ptr<model::GPTModel> model;                // one sequence at a time

  const config::Args& args() const { return resolved.args; }
  std::vector<checkpoint::ModelTensor> tensors() const { return checkpoint::model_tensors(*model); }
};

// Resolves `experiment` for one process (tensor, pipeline, context and expert parallelism set to 1
// before the command line's overrides: checkpoints hold global tensors, so the layout the
// experiment trains with does not matter here) and builds the model (micro-batch 1).
ExperimentModel load_experiment_model(const std::string& experiment, const std::vector<std::string>& overrides);

// The experiment's architecture as stored in checkpoints (metadata "state"): the model's
// shape-defining settings and the resolved arguments.
nlohmann::json experiment_state(const ExperimentModel& m);

}  // namespace primus::cli
