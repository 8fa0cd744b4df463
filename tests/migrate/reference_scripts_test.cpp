// The two reference launch scripts (../shared/reference/megatron-scripts) with KEY=VALUE
// variations: the zoo preset found, chosen keys, and the lossless proof of the written files.
#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using config::Value;
using testing::error_of;
using testing::migrate_script;
using testing::read_text;
using testing::reference_script;
using testing::TestDir;

TEST(MigrateReferenceScripts, Llama8BWithTensorParallel2UsesTheZooPreset) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_llama3_style.sh"), {"MODEL_SIZE=8", "TP=2"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_GT(m.result.proof.identical, 500u);
  EXPECT_TRUE(m.result.zoo_match);
  // The script leaves Llama 3.1's RoPE scaling off (no --use-rope-scaling): it is Llama 3 8B with a
  // 128k context, not llama3.1_8B (whose preset scales RoPE as the real model does).
  EXPECT_EQ(m.result.model, "llama3_8B.yaml");
  EXPECT_FALSE(m.result.preset_file);
  EXPECT_EQ(m.result.experiment_file.filename(), "llama3_8B-pretrain.yaml");
  EXPECT_EQ(m.result.world_size, 8);
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 2);
  EXPECT_EQ(m.integer("data_parallel_size"), 4);
  EXPECT_EQ(m.value("sequence_parallel"), Value{true});
  EXPECT_EQ(m.integer("global_batch_size"), 8);
  EXPECT_EQ(m.integer("micro_batch_size"), 1);
  EXPECT_EQ(m.integer("seq_length"), 4096);
  EXPECT_EQ(m.integer("max_position_embeddings"), 131072);
  EXPECT_EQ(m.value("lr"), Value{3e-4});
  EXPECT_EQ(m.integer("log_interval"), 1);   // the later --log-interval wins
  EXPECT_EQ(m.integer("eval_iters"), -1);    // '-1' unquoted by the script's eval
  EXPECT_EQ(m.value("mock_data"), Value{true});
  EXPECT_EQ(m.value("tokenizer_type"), Value{"HuggingFaceTokenizer"});

  std::string text = read_text(m.result.experiment_file);
  EXPECT_NE(text.find("    model: llama3_8B.yaml\n"), std::string::npos);
  EXPECT_NE(text.find("    config: pre_trainer.yaml\n"), std::string::npos);
  EXPECT_NE(text.find("      # parallelism\n      tensor_model_parallel_size: 2\n"), std::string::npos) << text;
  // Presets, not copies: the architecture stays in the preset.
  for (const char* key : {"num_layers:", "hidden_size:", "ffn_hidden_size:", "num_attention_heads:", "rotary_base:"})
    EXPECT_EQ(text.find(key), std::string::npos) << key;
  // What the script left at Megatron's default, where Primus' differs, is written with a reason.
  EXPECT_NE(text.find("finetune: false  # Megatron-LM default; Primus' default is true"), std::string::npos);
  // The top of the file is the run: what cannot affect it (no effect on this engine, YaRN values
  // without latent attention) closes the overrides under one title line.
  const size_t inert = text.find("      # --- values that cannot affect this run (kept for the lossless proof) ---\n");
  ASSERT_NE(inert, std::string::npos) << text;
  EXPECT_LT(text.find("tensor_model_parallel_size: 2"), inert);
  EXPECT_LT(text.find("lr: 0.0003"), inert);
  for (const char* key : {"\n      local_rank: 0", "\n      rotary_scaling_factor: 1.0", "\n      mscale_all_dim: 0.0"})
    EXPECT_GT(text.find(key), inert) << key;
  // finetune decides what a later `load` restores (checkpoints act on it): part of the run.
  EXPECT_LT(text.find("\n      finetune: false"), inert);
  EXPECT_NE(text.find("rotary_scaling_factor: 1.0  # Megatron-LM default; llama3_8B.yaml sets 40.0 (used only with "
                      "multi_latent_attention)"),
            std::string::npos)
      << text;
}

TEST(MigrateReferenceScripts, Llama70BOnTwoNodesWithPipelineParallelism) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_llama3_style.sh"),
                          {"MODEL_SIZE=70", "TP=8", "PP=2", "NNODES=2", "BS=64"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "llama3_70B.yaml");  // RoPE scaling off: see above
  EXPECT_EQ(m.result.world_size, 16);
  EXPECT_EQ(m.integer("pipeline_model_parallel_size"), 2);
  EXPECT_EQ(m.integer("data_parallel_size"), 1);
  EXPECT_EQ(m.integer("num_micro_batches"), 64);
  EXPECT_EQ(m.integer("num_layers"), 80);
}

TEST(MigrateReferenceScripts, LlamaRecomputeRealDataAndNoSequenceParallel) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_llama3_style.sh"),
                          {"RECOMPUTE=1", "DATA_PATH=/data/c4_text_document", "SEQ_PARALLEL=0"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.value("recompute_granularity"), Value{"full"});
  EXPECT_EQ(m.value("recompute_method"), Value{"block"});
  EXPECT_EQ(m.integer("recompute_num_layers"), 32);
  EXPECT_EQ(m.value("data_path"), (Value{Value::List{Value{"/data/c4_text_document"}}}));
  EXPECT_EQ(m.value("split").to_display(), "99,1,0");
  EXPECT_EQ(m.value("mock_data"), Value{false});
  EXPECT_EQ(m.value("sequence_parallel"), Value{false});
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 8);
}

TEST(MigrateReferenceScripts, LlamaUnsupportedSizeSaysWhatTheScriptSaid) {
  TestDir dir;
  std::string msg = error_of([&] { migrate_script(reference_script("train_llama3_style.sh"), {"MODEL_SIZE=13"}, dir.path()); });
  EXPECT_NE(msg.find("exited with code 1 before reaching a launcher"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Model size not supported."), std::string::npos) << msg;
}

TEST(MigrateReferenceScripts, LlamaOnTooFewGpusIsRejectedAsMegatronWould) {
  TestDir dir;
  std::string msg = error_of([&] { migrate_script(reference_script("train_llama3_style.sh"), {}, dir.path(), 4); });
  EXPECT_NE(msg.find("world size 4 is not divisible"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--gpus"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("mpirun -np"), std::string::npos) << msg;  // not an option of migrate
}

TEST(MigrateReferenceScripts, Mixtral8x7BWithExpertParallelism8) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_mixtral_style.sh"), {"MODEL_NAME=8x7B"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "mixtral_8x7B_v0.1.yaml");
  EXPECT_EQ(m.result.world_size, 8);
  EXPECT_EQ(m.integer("expert_model_parallel_size"), 8);
  EXPECT_EQ(m.integer("num_experts"), 8);
  EXPECT_EQ(m.integer("moe_router_topk"), 2);
  EXPECT_EQ(m.integer("max_position_embeddings"), 32768);
  EXPECT_EQ(m.integer("lr_decay_iters"), 48);  // $(( TRAIN_ITERS - 2 ))
  EXPECT_EQ(m.value("split").to_display(), "99990,8,2");
  EXPECT_EQ(m.value("sequence_parallel"), Value{false});  // TP 1
  std::string text = read_text(m.result.experiment_file);
  EXPECT_NE(text.find("expert_model_parallel_size: 8"), std::string::npos);
  EXPECT_EQ(text.find("num_experts:"), std::string::npos);
}

TEST(MigrateReferenceScripts, Mixtral8x22BWithTensorAndExpertParallelism) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_mixtral_style.sh"),
                          {"MODEL_NAME=8x22B", "TP=2", "EP=4", "SEQ_LEN=8192", "GBS=32"}, dir.path());
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.model, "mixtral_8x22B_v0.1.yaml");
  EXPECT_EQ(m.integer("tensor_model_parallel_size"), 2);
  EXPECT_EQ(m.value("sequence_parallel"), Value{true});
  EXPECT_EQ(m.integer("seq_length"), 8192);
  EXPECT_EQ(m.integer("global_batch_size"), 32);
  EXPECT_EQ(m.integer("num_layers"), 56);
}

TEST(MigrateReferenceScripts, MixtralGpuCountFromRocmSmi) {
  TestDir dir;
  auto m = migrate_script(reference_script("train_mixtral_style.sh"), {"EP=4"}, dir.path(), 4);
  EXPECT_TRUE(m.result.proof.lossless()) << m.result.proof.describe();
  EXPECT_EQ(m.result.world_size, 4);
  EXPECT_EQ(m.integer("expert_model_parallel_size"), 4);
}

TEST(MigrateReferenceScripts, MixtralUnknownModelFailsWithTheScriptsMessage) {
  TestDir dir;
  std::string msg = error_of([&] { migrate_script(reference_script("train_mixtral_style.sh"), {"MODEL_NAME=bogus"}, dir.path()); });
  EXPECT_NE(msg.find("unknown model bogus"), std::string::npos) << msg;
}

}  // namespace
}  // namespace primus::migrate
