#include "migrate/config_sections.hpp"

#include "config/schema.hpp"
#include "migrate/architecture_keys.hpp"

namespace primus::migrate {

Section section_of(const std::string& key) {
  const config::ArgumentSpec* spec = config::Schema::instance().find(key);
  std::string group = spec ? spec->group : "";
  if (key == "expert_model_parallel_size" || key == "expert_tensor_parallel_size" || key == "sequence_parallel" ||
      key == "decoder_pipeline_manual_split_list" || key.starts_with("encoder_") ||
      key == "pipeline_model_parallel_split_rank" || group == "distributed")
    return Section::kParallelism;
  if (key.starts_with("log_") || key.ends_with("sink_level") || key.starts_with("wandb") ||
      key.starts_with("tensorboard") || key == "disable_tensorboard" || key == "disable_wandb" || group == "logging")
    return Section::kLog;
  if (key == "auto_continue_train" || key == "disable_last_saving" || group == "checkpointing")
    return Section::kCheckpoints;
  if (key == "hidden_dropout" || key == "attention_dropout" || key.ends_with("_fusion") ||
      key == "attention_softmax_in_fp32" || key == "use_flash_attn" || is_architecture_key(key) ||
      group == "network size" || group == "mla" || group == "moe" || group == "initialization" ||
      key == "qk_layernorm" || key == "qk_l2_norm")
    return Section::kModel;
  if (key == "optimizer" || key.starts_with("optimizer_") || group == "learning rate" || group == "regularization")
    return Section::kOptimizer;
  if (group == "data and dataloader" || group == "tokenizer" || key == "dataloader_type") return Section::kData;
  if (group == "validation") return Section::kEvaluation;
  if (group == "training" || group == "mixed precision") return Section::kTraining;
  return Section::kOther;
}

const char* section_title(Section section) {
  switch (section) {
    case Section::kModel: return "model: the run's settings beyond the preset";
    case Section::kLog: return "log";
    case Section::kTraining: return "training";
    case Section::kOptimizer: return "optimizer";
    case Section::kParallelism: return "parallelism";
    case Section::kData: return "data";
    case Section::kEvaluation: return "evaluation";
    case Section::kCheckpoints: return "checkpoints";
    case Section::kOther: return "other";
  }
  return "other";
}

}  // namespace primus::migrate
