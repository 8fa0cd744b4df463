#include "cli/experiment_model.hpp"

#include "checkpoint/training_state.hpp"
#include "config/config_printer.hpp"
#include "core/error.hpp"
#include "data/tokenizer/tokenizer_factory.hpp"

namespace primus::cli {

ExperimentModel load_experiment_model(const std::string& experiment, const std::vector<std::string>& overrides) {
  ExperimentModel m;
  config::ResolveOptions ro;
  ro.config = experiment;
  // The model of one process: checkpoints and converted models hold global tensors, whatever
  // layout the experiment trains with (the user's own overrides still come last).
  ro.overrides = {"--tensor_model_parallel_size", "1", "--pipeline_model_parallel_size", "1",
                  "--context_parallel_size", "1", "--expert_model_parallel_size", "1",
                  "--expert_tensor_parallel_size", "null", "--sequence_parallel", "false",
                  "--decoder_first_pipeline_num_layers", "null", "--decoder_last_pipeline_num_layers", "null",
                  "--decoder_pipeline_manual_split_list", "null", "--num_layers_per_virtual_pipeline_stage", "null",
                  "--virtual_pipeline_model_parallel_size", "null", "--pipeline_model_parallel_layout", "null"};
  ro.overrides.insert(ro.overrides.end(), overrides.begin(), overrides.end());
  ro.world_size = 1;
  m.resolved = config::resolve(ro);
  const config::Args& a = m.resolved.args;
  const std::string type = a.tokenizer_type.value_or("NullTokenizer"), name = a.tokenizer_model.value_or("");
  m.tokenizer = data::make_tokenizer(type, name, a.vocab_size);
  if (type != "NullTokenizer") m.tokenizer_json = data::resolve_tokenizer_json(name);
  m.config = model::ModelConfig::from_args(a, m.tokenizer->vocab_size());
  m.model = std::make_unique<model::GPTModel>(m.config, 1, model::RecomputePlan{});
  return m;
}

nlohmann::json experiment_state(const ExperimentModel& m) {
  nlohmann::json state;
  state["model"] = checkpoint::model_summary(m.args(), m.config);
  state["args"] = checkpoint::resolved_arguments(m.resolved);
  return state;
}

}  // namespace primus::cli
