// Megatron-LM's pipeline_model_parallel_layout: the decoder's layers placed stage by stage, e.g.
// "Et*3|(tt|)*29,m|L" (E embedding, t transformer layer, m MTP layer, L loss; `|` ends a stage,
// `x*n` and `(...)*n` repeat, commas are cosmetic). Read as Megatron-Core reads it
// (PipelineParallelLayerLayout.parse_str_to_list) and checked as it checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace primus::config {

struct PipelineLayout {
  std::vector<std::string> stages;  // one string of E/t/m/L per (virtual) stage, in layer order

  int64_t count(char layer) const;
  // Virtual stages per pipeline rank (stages / pipeline_model_parallel_size).
  int64_t virtual_stages(int64_t pipeline_size) const { return int64_t(stages.size()) / pipeline_size; }
};

// Throws primus::Error naming the problem (without a location: the caller adds the key's origin).
PipelineLayout parse_pipeline_layout(const std::string& text);

// Megatron's checks: stages divisible by pipeline_model_parallel_size, embedding first and loss last,
// once each, num_layers transformer layers and mtp_num_layers MTP layers after them.
void check_pipeline_layout(const PipelineLayout& layout, int64_t pipeline_size, int64_t num_layers,
                           std::optional<int64_t> mtp_num_layers);

}  // namespace primus::config
