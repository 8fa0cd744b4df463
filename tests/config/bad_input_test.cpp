// Bad input: every case must fail before any work with one clear line naming the file:line,
// key and value (or flag) — never a crash, a stack trace or a silent default.
#include <gtest/gtest.h>

#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

struct BadCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> files;  // written into a scratch dir; first is the experiment
  std::vector<std::string> cli;
  int64_t world;
  std::vector<std::string> expected;  // substrings of the message
};

std::string tiny(const std::string& overrides) { return "model: tiny_llama.yaml\noverrides:\n" + overrides; }

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class ConfigBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigBadInput, FailsWithAClearMessage) {
  const BadCase& c = GetParam();
  ScratchDir dir;
  std::filesystem::path experiment = dir.path() / "missing.yaml";
  for (size_t i = 0; i < c.files.size(); ++i) {
    auto p = dir.write(c.files[i].first, c.files[i].second);
    if (i == 0) experiment = p;
  }
  std::string message = error_of([&] { resolve_file(experiment, c.cli, c.world); });
  ASSERT_FALSE(message.empty()) << "no error for case " << c.name;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "message must be one line: " << message;
  for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
}

const BadCase kCases[] = {
    {"unknown_key_in_overrides", {{"e.yaml", tiny("  hiden_size: 5\n")}}, {}, 1,
     {"e.yaml:3", "unknown key 'hiden_size'", "did you mean 'hidden_size'"}},
    {"unknown_key_in_preset", {{"e.yaml", "model: m.yaml\n"}, {"m.yaml", "bases: [tiny_llama.yaml]\nnum_layer: 3\n"}}, {}, 1,
     {"m.yaml:2", "unknown key 'num_layer'", "'num_layers'"}},
    {"unknown_flag_on_command_line", {{"e.yaml", tiny("  seed: 1\n")}}, {"--hiden_size", "5"}, 1,
     {"command line", "'--hiden_size'", "did you mean 'hidden_size'"}},
    {"unknown_megatron_flag", {{"e.yaml", tiny("  seed: 1\n")}}, {"--tensor-parallel-size", "2"}, 1,
     {"unknown argument '--tensor-parallel-size'", "tensor_model_parallel_size"}},
    {"bad_yaml", {{"e.yaml", "model: tiny_llama.yaml\noverrides:\n  lr: [1, 2\n"}}, {}, 1, {"e.yaml:", "bad YAML"}},
    {"top_level_not_a_mapping", {{"e.yaml", "- a\n- b\n"}}, {}, 1, {"e.yaml", "top level must be a mapping"}},
    {"duplicate_key", {{"e.yaml", tiny("  lr: 1.0e-3\n  lr: 2.0e-3\n")}}, {}, 1, {"e.yaml:4", "'overrides.lr' appears twice"}},
    {"missing_base", {{"e.yaml", "model: m.yaml\n"}, {"m.yaml", "bases:\n  - llama3_bsae.yaml\n"}}, {}, 1,
     {"m.yaml:1", "'llama3_bsae.yaml' not found", "did you mean 'llama3_base.yaml'"}},
    {"cycle_of_bases", {{"e.yaml", "model: a.yaml\n"}, {"a.yaml", "bases: [b.yaml]\n"}, {"b.yaml", "bases: [a.yaml]\n"}}, {}, 1,
     {"cycle of bases", "a.yaml -> b.yaml -> a.yaml"}},
    {"missing_model_preset", {{"e.yaml", "model: llama3_8b.yaml\n"}}, {}, 1,
     {"e.yaml:1", "'llama3_8b.yaml' not found", "did you mean 'llama3_8B.yaml'"}},
    {"missing_experiment_file", {}, {}, 1, {"missing.yaml", "experiment file not found"}},
    {"required_env_unset", {{"e.yaml", tiny("  train_iters: ${PRIMUS_TEST_SURELY_UNSET}\n")}}, {}, 1,
     {"e.yaml:3", "PRIMUS_TEST_SURELY_UNSET is not set"}},
    {"malformed_env_reference", {{"e.yaml", tiny("  train_iters: ${1BAD}\n")}}, {}, 1, {"e.yaml:3", "not a variable reference"}},
    {"wrong_type_int", {{"e.yaml", tiny("  num_layers: abc\n")}}, {}, 1, {"e.yaml:3", "num_layers expects an integer, got abc"}},
    {"wrong_type_on_command_line", {{"e.yaml", tiny("  seed: 1\n")}}, {"--num-layers", "abc"}, 1,
     {"command line (--num-layers)", "num_layers expects an integer"}},
    {"wrong_type_bool", {{"e.yaml", tiny("  swiglu: maybe\n")}}, {}, 1, {"e.yaml:3", "swiglu expects true or false"}},
    {"wrong_type_float", {{"e.yaml", tiny("  lr: fast\n")}}, {}, 1, {"e.yaml:3", "lr expects a number, got fast"}},
    {"list_for_a_scalar", {{"e.yaml", tiny("  num_layers: [1, 2]\n")}}, {}, 1, {"num_layers expects an integer, got a list"}},
    {"null_not_allowed", {{"e.yaml", tiny("  hidden_dropout: null\n")}}, {}, 1, {"e.yaml:3", "hidden_dropout needs a value"}},
    {"bad_choice", {{"e.yaml", tiny("  lr_decay_style: cosin\n")}}, {}, 1,
     {"e.yaml:3", "lr_decay_style must be one of", "did you mean 'cosine'"}},
    {"bad_layer_pattern", {{"e.yaml", tiny("  moe_layer_freq: \"([0]*3+\"\n")}}, {}, 1,
     {"e.yaml:3", "moe_layer_freq", "cannot read"}},
    {"mixed_forms", {{"e.yaml", "model: tiny_llama.yaml\nmodules:\n  pre_trainer:\n    model: tiny_llama.yaml\n"}}, {}, 1,
     {"mixes the full form"}},
    {"unsupported_framework", {{"e.yaml", "modules:\n  pre_trainer:\n    framework: torchtitan\n    model: tiny_llama.yaml\n"}}, {}, 1,
     {"e.yaml:3", "framework 'torchtitan' is not supported"}},
    {"unsupported_module", {{"e.yaml", "modules:\n  rl_trainer:\n    framework: megatron\n"}}, {}, 1,
     {"module 'rl_trainer' is not supported"}},
    {"unknown_module_field", {{"e.yaml", "modules:\n  pre_trainer:\n    modle: tiny_llama.yaml\n"}}, {}, 1,
     {"unknown field 'modules.pre_trainer.modle'"}},
    {"world_not_divisible", {{"e.yaml", tiny("  tensor_model_parallel_size: 2\n")}}, {}, 3,
     {"world size 3 is not divisible", "tensor_model_parallel_size = 2", "e.yaml:3"}},
    {"heads_not_divisible_by_tp", {{"e.yaml", tiny("  tensor_model_parallel_size: 3\n")}}, {}, 3,
     {"num_attention_heads 8 is not divisible by tensor_model_parallel_size 3"}},
    {"groups_vs_tp", {{"e.yaml", tiny("  num_attention_heads: 12\n  num_query_groups: 6\n  kv_channels: 32\n"
                                      "  tensor_model_parallel_size: 4\n")}}, {}, 4,
     {"num_query_groups 6 must be a multiple or a divisor of tensor_model_parallel_size 4"}},
    {"gqa_without_groups", {{"e.yaml", tiny("  num_query_groups: null\n")}}, {}, 1,
     {"group_query_attention is true but num_query_groups is not set"}},
    {"heads_not_dividing_hidden", {{"e.yaml", tiny("  hidden_size: 100\n")}}, {}, 1,
     {"hidden_size 100 is not divisible by num_attention_heads 8"}},
    {"global_batch_not_multiple", {{"e.yaml", tiny("  micro_batch_size: 4\n  global_batch_size: 6\n")}}, {}, 1,
     {"global_batch_size = 6", "multiple of micro_batch_size × data parallel size = 4 × 1 = 4"}},
    {"global_batch_vs_data_parallel", {{"e.yaml", tiny("  micro_batch_size: 4\n  global_batch_size: 4\n")}}, {}, 2,
     {"global_batch_size = 4", "4 × 2 = 8"}},
    {"micro_batch_zero", {{"e.yaml", tiny("  micro_batch_size: 0\n")}}, {}, 1, {"micro_batch_size = 0: must be at least 1"}},
    {"layers_vs_pipeline", {{"e.yaml", tiny("  pipeline_model_parallel_size: 3\n")}}, {}, 3,
     {"num_layers 8 is not divisible by pipeline_model_parallel_size 3"}},
    {"manual_split_sum", {{"e.yaml", tiny("  pipeline_model_parallel_size: 2\n  decoder_pipeline_manual_split_list: [3, 3]\n")}},
     {}, 2, {"decoder_pipeline_manual_split_list = [3, 3]", "adding up to num_layers 8"}},
    {"virtual_pipeline_split", {{"e.yaml", tiny("  pipeline_model_parallel_size: 4\n  num_layers_per_virtual_pipeline_stage: 3\n")}},
     {}, 4, {"num_layers_per_virtual_pipeline_stage = 3", "layers per pipeline stage (2)"}},
    {"context_parallel_seq", {{"e.yaml", tiny("  context_parallel_size: 3\n")}}, {}, 3,
     {"seq_length = 1024", "divisible by 2 × context_parallel_size = 6"}},
    {"max_position_below_seq", {{"e.yaml", tiny("  seq_length: 4096\n")}}, {}, 1,
     {"max_position_embeddings = 2048", "at least seq_length = 4096"}},
    {"min_lr_above_lr", {{"e.yaml", tiny("  min_lr: 0.5\n")}}, {}, 1, {"min_lr = 0.5", "must not exceed lr"}},
    {"fp16_and_bf16", {{"e.yaml", tiny("  fp16: true\n  bf16: true\n")}}, {}, 1, {"fp16 and bf16 are exclusive"}},
    {"iters_and_samples", {{"e.yaml", tiny("  train_samples: 100\n")}}, {}, 1,
     {"train_samples = 100", "train_iters and train_samples are exclusive"}},
    {"warmup_twice", {{"e.yaml", tiny("  lr_warmup_fraction: 0.1\n")}}, {}, 1,
     {"lr_warmup_fraction = 0.1", "at most one of lr_warmup_fraction and lr_warmup_iters"}},
    {"overlap_param_gather", {{"e.yaml", tiny("  overlap_param_gather: true\n  use_distributed_optimizer: false\n")}}, {}, 1,
     {"overlap_param_gather = true", "needs use_distributed_optimizer and overlap_grad_reduce"}},
    {"two_data_sources", {{"e.yaml", tiny("  mock_data: true\n  data_path: /data/x_text_document\n")}}, {}, 1,
     {"at most one data source", "mock_data = true", "data_path"}},
    {"save_without_interval", {{"e.yaml", tiny("  save: /tmp/ckpt\n  save_interval: null\n")}}, {}, 1,
     {"save_interval", "save is set"}},
    {"experts_vs_ep", {{"e.yaml", "model: tiny_mixtral.yaml\noverrides:\n  expert_model_parallel_size: 3\n"}}, {}, 3,
     {"num_experts 4 is not divisible by expert_model_parallel_size 3"}},
    {"ep_without_experts", {{"e.yaml", tiny("  expert_model_parallel_size: 2\n")}}, {}, 2,
     {"expert parallelism needs a mixture-of-experts model"}},
    {"flag_given_a_value", {{"e.yaml", tiny("  seed: 1\n")}}, {"--swiglu=maybe"}, 1, {"--swiglu takes no value"}},
    {"flag_without_value", {{"e.yaml", tiny("  seed: 1\n")}}, {"--num-layers"}, 1, {"--num-layers needs a value"}},
    {"stray_token", {{"e.yaml", tiny("  seed: 1\n")}}, {"3"}, 1, {"unexpected '3'"}},
    {"bases_not_names", {{"e.yaml", "model: m.yaml\n"}, {"m.yaml", "bases: [1]\n"}}, {}, 1, {"m.yaml:1", "bases lists file names"}},
    {"train_iters_missing", {{"e.yaml", tiny("  train_iters: null\n")}}, {}, 1, {"train_iters is not set"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, ConfigBadInput, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigBadInputCount, AtLeastThirtyDistinctCases) { EXPECT_GE(std::size(kCases), 30u); }

}  // namespace
