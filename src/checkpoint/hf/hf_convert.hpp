// Hugging Face <-> checkpoint conversion (`primus checkpoint import-hf | export-hf`), streamed one
// tensor at a time so that a model larger than memory converts.
//
// import_hf: reads DIR/config.json (the family from "model_type"; every architecture key checked
// against the experiment, hf_config.hpp) and DIR/model.safetensors or the shards listed in
// model.safetensors.index.json (F32, BF16, F16 or F8 values, widened to F32 exactly), checks that
// every tensor the model needs is there with its shape and that nothing is left over, and writes a
// release checkpoint (OUTPUT/release/, tracker "release"): weights only, iteration 0 — what
// `train pretrain --load OUTPUT --finetune` (or plain --load) starts from.
//
// export_hf: reads any checkpoint (any layout wrote it) and writes OUTPUT/config.json,
// model.safetensors or model-0000k-of-0000n.safetensors + model.safetensors.index.json (shards of
// at most max_shard_bytes) in F32 or BF16 (round to nearest even), plus the tokenizer files when
// the experiment's tokenizer is a tokenizer.json. OUTPUT is written as a sibling .partial folder
// and renamed into place when complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/hf/hf_family.hpp"
#include "checkpoint/model_tensors.hpp"
#include "config/args.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint::hf {

struct ImportResult {
  std::filesystem::path checkpoint;  // OUTPUT/release
  Family family = Family::Llama;
  std::int64_t tensors = 0;
  std::uint64_t bytes = 0;
};

// state: stored as the checkpoint's metadata "state" (the caller's model summary and arguments);
// import adds "source".
ImportResult import_hf(const config::Args& args, const model::ModelConfig& config, const std::vector<ModelTensor>& tensors,
                       const std::filesystem::path& hf_dir, const std::filesystem::path& output, nlohmann::json state);

struct ExportOptions {
  std::optional<Family> family;              // default: infer_family(args)
  bool bf16 = false;                         // else F32
  std::uint64_t max_shard_bytes = 2ull << 30;
  std::optional<std::int64_t> bos, eos;      // config.json's bos/eos_token_id
  std::optional<std::filesystem::path> tokenizer_json;  // copied with its tokenizer_config.json / special_tokens_map.json
};

struct ExportResult {
  Family family = Family::Llama;
  std::vector<std::string> files;
  std::uint64_t bytes = 0;
};

ExportResult export_hf(const config::Args& args, const model::ModelConfig& config, const std::vector<ModelTensor>& tensors,
                       CheckpointReader& checkpoint, const std::filesystem::path& output, const ExportOptions& options);

}  // namespace primus::checkpoint::hf
