// Which layers each pipeline stage holds (Megatron-Core's TransformerBlock/TransformerLayer layer
// counts and offsets, and its pipeline_model_parallel_layout strings): for every pipeline rank p
// and virtual stage v, a contiguous range of decoder layers and whether the stage holds the
// embedding, the loss (final norm + output layer) and the multi-token-prediction layers.
// Virtual stages are ordered virtual-major: stage index v·pp + p; a layer's number is the count
// of layers in all earlier stages.
//
// Splits (one of):
//   even              L / (pp·V) layers per stage;
//   uneven            decoder_first/last_pipeline_num_layers F, La on the first/last rank (each
//                     divisible by V), the rest shared evenly by the other ranks;
//   account_for_*     the embedding and/or the loss count as one layer each: L' = L + E + Lo is
//                     split evenly and the first (last) stage builds one layer fewer;
//   manual            Primus' decoder_pipeline_manual_split_list: layers per rank (V = 1);
//   layout string     pipeline_model_parallel_layout: 'E' embedding, 'L' loss, 't' a decoder layer,
//                     'm' an MTP layer, '|' between stages, 'x*n' and '(…)*n' repeat, ',' ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/args.hpp"

namespace primus::parallel {

struct PipelineSplitOptions {
  std::int64_t num_layers = 0;
  std::int64_t pp = 1;
  std::int64_t virtual_stages = 1;  // V: model chunks per rank
  std::optional<std::int64_t> first_stage_layers, last_stage_layers;
  bool account_for_embedding = false, account_for_loss = false;
  std::vector<std::int64_t> manual_split;  // one count per rank
  std::string layout;                      // pipeline_model_parallel_layout
  std::int64_t mtp_layers = 0;

  static PipelineSplitOptions from_args(const config::Args& args);
};

struct StageLayers {
  std::int64_t first_layer = 0, num_layers = 0;
  bool embedding = false, loss = false;
  std::int64_t mtp_layers = 0;
};

class PipelineSplit {
 public:
  // Throws primus::Error naming the key when the split is impossible.
  explicit PipelineSplit(const PipelineSplitOptions& options);

  std::int64_t pp() const { return pp_; }
  std::int64_t virtual_stages() const { return vpp_; }
  const StageLayers& stage(std::int64_t rank, std::int64_t chunk) const {
    return stages_[static_cast<size_t>(chunk * pp_ + rank)];
  }
  // Expands the repetitions of a layout string into one stage per '|'-separated part.
  static std::vector<std::string> expand_layout(const std::string& layout);

 private:
  std::int64_t pp_, vpp_;
  std::vector<StageLayers> stages_;  // virtual-major
};

}  // namespace primus::parallel
