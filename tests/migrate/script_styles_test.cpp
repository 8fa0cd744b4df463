// Launch scripts in the further styles users have (tests/migrate/scripts): functions echoing
// flag groups under set -euo pipefail, case statements with positional arguments, += option
// strings run through eval, sourced env files, mpirun around python, a Slurm batch job with srun
// around torchrun, docker run around bash -c, GPU/NIC probes with git clone, pip and sleep, a
// script that fails early, one that never launches, one with unknown flags (never "lossless" when
// they are kept as comments). Each checks chosen keys and the proof.
#include <filesystem>

#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using config::Value;
using testing::error_of;
using testing::migrate_script;
using testing::read_text;
using testing::test_script;
using testing::TestDir;

TEST(MigrateScriptStyles, FunctionsEchoingFlagGroupsUnderStrictMode) {
  TestDir dir;
  auto m = migrate_script(test_script("functions_style.sh"), {"TP=2"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "llama2_7B.yaml");
  EXPECT_EQ(m.result.world_size, 8);  // nvidia-smi --query-gpu=index | wc -l
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 2);
  EXPECT_EQ(m.value("lr_warmup_fraction"), Value{0.01});
  EXPECT_EQ(m.integer("lr_warmup_iters"), 0);  // Megatron's default, written over Primus' 40
  // Deprecated aliases become what they mean.
  EXPECT_EQ(m.value("position_embedding_type"), Value{"rope"});
  EXPECT_EQ(m.value("recompute_granularity"), Value{"selective"});
  ASSERT_EQ(m.result.conversions.size(), 2u);
  std::string text = read_text(m.result.experiment_file);
  EXPECT_NE(text.find("recompute_granularity: selective  # from --recompute-activations"), std::string::npos) << text;
  EXPECT_EQ(text.find("recompute_activations"), std::string::npos);
}

TEST(MigrateScriptStyles, CaseStatementWithPositionalArgumentAndTorchDistributedRun) {
  TestDir dir;
  auto seven = migrate_script(test_script("case_style.sh"), {}, dir.path() / "7b");
  EXPECT_TRUE(seven.result.proof.lossless()) << seven.result.proof.describe();
  EXPECT_EQ(seven.capture.launch.launcher, "python -m torch.distributed.run");
  EXPECT_EQ(seven.result.model, "qwen2.5_7B.yaml");
  EXPECT_EQ(seven.value("add_qkv_bias"), Value{true});
  EXPECT_EQ(seven.integer("tensor_model_parallel_size"), 4);

  auto big = migrate_script(test_script("case_style.sh"), {"qwen2.5-72b", "TP=8"}, dir.path() / "72b");
  EXPECT_TRUE(big.result.proof.lossless()) << big.result.proof.describe();
  EXPECT_EQ(big.result.model, "qwen2.5_72B.yaml");
  EXPECT_EQ(big.integer("num_layers"), 80);

  std::string msg = error_of([&] { migrate_script(test_script("case_style.sh"), {"gpt-5"}, dir.path() / "x"); });
  EXPECT_NE(msg.find("code 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown model 'gpt-5'"), std::string::npos) << msg;
}

TEST(MigrateScriptStyles, ConcatenatedOptionsThroughEvalWriteANewPresetOnTheFamilyBase) {
  TestDir dir;
  auto m = migrate_script(test_script("concat_eval_style.sh"), {}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_FALSE(m.result.zoo_match);
  ASSERT_TRUE(m.result.preset_file);
  EXPECT_EQ(m.result.preset_file->filename(), "concat_eval_style_model.yaml");
  EXPECT_EQ(m.result.model, "concat_eval_style_model.yaml");
  std::string preset = read_text(*m.result.preset_file);
  EXPECT_NE(preset.find("bases:\n  - llama3_base.yaml\n"), std::string::npos) << preset;
  EXPECT_NE(preset.find("num_layers: 6\n"), std::string::npos);
  EXPECT_NE(preset.find("num_query_groups: 4\n"), std::string::npos);
  EXPECT_EQ(preset.find("rotary_base"), std::string::npos);  // llama3_base already has 500000
  EXPECT_EQ(preset.find("kv_channels"), std::string::npos);  // derived, as Megatron derives it
  EXPECT_EQ(m.integer("kv_channels"), 64);
  EXPECT_EQ(m.value("data_path"), (Value{Value::List{Value{"0.7"}, Value{"/data/web_text_document"}, Value{"0.3"},
                                                    Value{"/data/code_text_document"}}}));
  EXPECT_EQ(m.value("save"), Value{"./checkpoints"});
  // The script's mkdir/tee landed in the sandbox, not next to the script.
  EXPECT_FALSE(std::filesystem::exists(test_script("logs")));
}

TEST(MigrateScriptStyles, EnvFilesSourcedNextToTheScript) {
  TestDir dir;
  auto m = migrate_script(test_script("sourced/train.sh"), {}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "llama3_8B.yaml");
  EXPECT_EQ(m.result.world_size, 16);
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 8);
  EXPECT_EQ(m.integer("pipeline_model_parallel_size"), 2);
  EXPECT_EQ(m.integer("seq_length"), 8192);

  auto one_node = migrate_script(test_script("sourced/train.sh"), {"NNODES=1", "PP=1"}, dir.path() / "one");
  EXPECT_TRUE(one_node.result.proof.lossless()) << one_node.result.proof.describe();
  EXPECT_EQ(one_node.result.world_size, 8);
  EXPECT_EQ(one_node.integer("pipeline_model_parallel_size"), 1);
}

TEST(MigrateScriptStyles, MpirunAroundPythonGivesTheProcessCount) {
  TestDir dir;
  auto m = migrate_script(test_script("mpirun_style.sh"), {"NP=8"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.capture.launch.launcher, "python");
  EXPECT_EQ(m.result.world_size, 8);
  EXPECT_EQ(m.result.model, "tiny_llama.yaml");
  EXPECT_EQ(m.integer("data_parallel_size"), 4);
  EXPECT_EQ(m.integer("lr_warmup_iters"), 20);
}

TEST(MigrateScriptStyles, SlurmBatchJobWithSrunAroundTorchrun) {
  TestDir dir;
  auto m = migrate_script(test_script("slurm/submit.sh"), {}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.world_size, 32);  // #SBATCH --nodes=4, 8 GPUs each
  EXPECT_EQ(m.result.model, "llama3_70B.yaml");
  EXPECT_EQ(m.integer("pipeline_model_parallel_size"), 4);
  EXPECT_EQ(m.integer("data_parallel_size"), 1);
}

TEST(MigrateScriptStyles, LaunchInsideADockerRunCommand) {
  TestDir dir;
  auto m = migrate_script(test_script("container_style.sh"), {"TP=4"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "qwen2.5_7B.yaml");
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 4);  // docker run -e TP=4, read inside bash -c
  EXPECT_EQ(m.integer("seq_length"), 2048);
  EXPECT_EQ(m.value("sequence_parallel"), Value{false});  // not asked for; the preset's true is overridden
}

TEST(MigrateScriptStyles, GpuAndNetworkProbesAgreeAndSetupStepsAreHarmless) {
  TestDir dir;
  auto m = migrate_script(test_script("probes_style.sh"), {}, dir.path(), 4);
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.world_size, 4);  // python, nvidia-smi -L / --query-gpu, rocm-smi, amd-smi all say 4
  EXPECT_EQ(m.integer("data_parallel_size"), 4);
}

TEST(MigrateScriptStyles, WindowsLineEndsAndAGpt2StyleModel) {
  TestDir dir;
  auto m = migrate_script(test_script("windows_line_ends.sh"), {}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 1);  // "TP=${TP:-1}\r\n" read as bash would read "...\n"
  ASSERT_TRUE(m.result.preset_file);
  std::string preset = read_text(*m.result.preset_file);
  EXPECT_NE(preset.find("position_embedding_type: learned_absolute\n"), std::string::npos) << preset;
  EXPECT_NE(preset.find("add_position_embedding: true\n"), std::string::npos) << preset;
  EXPECT_NE(preset.find("normalization: LayerNorm\n"), std::string::npos) << preset;
  EXPECT_EQ(preset.find("\nnum_query_groups:"), std::string::npos) << preset;  // derived from the heads
  EXPECT_EQ(m.value("add_bias_linear"), Value{true});
}

TEST(MigrateScriptStyles, ASweepOfLaunchesTakesTheOneAskedFor) {
  CaptureOptions o;
  o.script = test_script("two_launches.sh");
  CaptureResult first = capture_launch(o);
  EXPECT_EQ(first.launches.size(), 2u);
  o.launch_index = 2;
  CaptureResult second = capture_launch(o);
  ASSERT_EQ(second.launch.training_args.back(), "2");  // --tensor-model-parallel-size 2
  EXPECT_EQ(first.launch.training_args.back(), "1");
  o.launch_index = 3;
  EXPECT_NE(error_of([&] { capture_launch(o); }).find("--launch 3 asked for, but the script makes 2"), std::string::npos);
}

TEST(MigrateScriptStyles, AScriptThatFailsEarlyReportsItsCodeAndMessage) {
  TestDir dir;
  std::string msg = error_of([&] { migrate_script(test_script("fails_early.sh"), {}, dir.path()); });
  EXPECT_NE(msg.find("fails_early.sh: the script exited with code 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DATA_PATH must be set"), std::string::npos) << msg;

  auto m = migrate_script(test_script("fails_early.sh"), {"DATA_PATH=/data/tokens_text_document"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.value("data_path"), (Value{Value::List{Value{"/data/tokens_text_document"}}}));
  EXPECT_EQ(m.value("split").to_display(), "969, 30, 1");  // Megatron's default split, derived on both sides
}

TEST(MigrateScriptStyles, UnknownFlagsAreListedOrKeptAsComments) {
  TestDir dir;
  std::string msg = error_of([&] { migrate_script(test_script("unknown_flags.sh"), {}, dir.path()); });
  EXPECT_NE(msg.find("2 argument(s) unknown"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--use-fancy-kernels"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--hiden-size 256; did you mean '--hidden-size'?"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--keep-unknown"), std::string::npos) << msg;

  // Carried along as comments: every key agrees, but what those flags did is not in the files.
  auto m = migrate_script(test_script("unknown_flags.sh"), {}, dir.path(), 8, /*keep_unknown=*/true);
  EXPECT_FALSE(m.result.proof.lossless());
  EXPECT_TRUE(m.result.proof.differences.empty()) << m.result.proof.describe();
  EXPECT_EQ(m.result.proof.describe().find("NOT lossless: 2 flag(s) kept only as comments: --use-fancy-kernels, "
                                            "--hiden-size 256 (the other "),
            0u)
      << m.result.proof.describe();
  EXPECT_EQ(m.result.unknown.size(), 2u);
  std::string text = read_text(m.result.experiment_file);
  EXPECT_NE(text.find("# NOT lossless: 2 flag(s) of the script are kept below only as comments"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# unknown to this engine, kept from the script: --use-fancy-kernels\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# unknown to this engine, kept from the script: --hiden-size 256\n"), std::string::npos);
}

TEST(MigrateScriptStyles, AScriptThatNeverLaunchesIsStoppedAtTheTimeLimit) {
  TestDir dir;
  CaptureOptions o;
  o.script = test_script("runs_forever.sh");
  o.timeout_s = 1;
  std::string msg = error_of([&] { capture_launch(o); });
  EXPECT_NE(msg.find("did not reach a launcher within 1 s"), std::string::npos) << msg;
}

TEST(MigrateScriptStyles, MissingOrNonShellScriptsAreClearErrors) {
  TestDir dir;
  CaptureOptions o;
  o.script = dir.path() / "nope.sh";
  EXPECT_NE(error_of([&] { capture_launch(o); }).find("nope.sh: launch script not found"), std::string::npos);
  o.script = dir.path() / "train.py";
  std::ofstream(o.script) << "#!/usr/bin/env python3\nprint('hi')\n";
  EXPECT_NE(error_of([&] { capture_launch(o); }).find("not a bash script"), std::string::npos);
}

}  // namespace
}  // namespace primus::migrate
