// Every process group Megatron-Core builds (parallel_state.initialize_model_parallel), computed
// from the world size and the parallel sizes alone: pure arithmetic, no MPI, so that
// `primus parallel layout` can show a layout for any world size on one machine.
//
// Two grids, as in Megatron-Core:
//  * the dense ("decoder") grid with axes tp, cp, dp, pp (ep = 1), data-parallel size
//    DP = world / (TP·CP·PP);
//  * the expert grid with axes expert-tp (as "tp"), ep, expert-dp (as "dp"), pp (cp = 1), where
//    expert-tp defaults to TP and expert-dp EDP = world / (ETP·EP·PP).
// Order "tp-cp-ep-dp-pp" (default) or "tp-cp-ep-pp-dp" (use_tp_pp_dp_mapping); leftmost varies
// fastest. Groups are listed in Megatron's creation order, each kind's groups in its generator's
// order (rank_generator.hpp).
//
// Embedding groups follow pretrain_gpt's get_embedding_ranks: the first rank of every pipeline
// group, plus its last rank when the output layer shares the embedding (tied) or holds MTP layers;
// position-embedding groups hold the first rank only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/args.hpp"
#include "parallel/rank_generator.hpp"

namespace primus::parallel {

struct ParallelSizes {
  int world = 1;
  int tp = 1, pp = 1, cp = 1;
  int ep = 1, etp = 1;             // expert-model-parallel and expert-tensor-parallel sizes
  bool tp_pp_dp_order = false;     // use_tp_pp_dp_mapping: "tp-cp-ep-pp-dp"

  int dp() const { return world / (tp * cp * pp); }
  int edp() const { return world / (etp * ep * pp); }
  std::string order() const { return tp_pp_dp_order ? "tp-cp-ep-pp-dp" : "tp-cp-ep-dp-pp"; }

  // From resolved arguments (expert_tensor_parallel_size defaults to tensor_model_parallel_size).
  static ParallelSizes from_args(const config::Args& args);
  // Megatron's layout rules (world divisibility for both grids; with pp not last, EDP == DP).
  // Throws primus::Error naming the sizes.
  void validate() const;
};

// Where the word/position embeddings live on a pipeline (pretrain_gpt.get_embedding_ranks).
struct EmbeddingPlacement {
  bool tied = true;   // output layer shares the word embedding
  bool mtp = false;   // multi-token-prediction layers (on the last stage)
  static EmbeddingPlacement from_args(const config::Args& args);
};

enum class GroupKind : int {
  DataParallelWithCp,           // dp_cp      DATA_PARALLEL_GROUP_WITH_CP   ("dp-cp")
  DataParallel,                 // dp         DATA_PARALLEL_GROUP           ("dp")
  ContextParallel,              // cp         CONTEXT_PARALLEL_GROUP        ("cp")
  ModelParallel,                // mp         MODEL_PARALLEL_GROUP          ("tp-pp")
  TensorParallel,               // tp         TENSOR_MODEL_PARALLEL_GROUP   ("tp")
  PipelineParallel,             // pp         PIPELINE_MODEL_PARALLEL_GROUP ("pp")
  Embedding,                    // embedding  EMBEDDING_GROUP
  PositionEmbedding,            // position_embedding POSITION_EMBEDDING_GROUP
  TensorAndDataParallelWithCp,  // tp_dp_cp   ("tp-dp-cp")
  TensorAndDataParallel,        // tp_dp      ("tp-dp")
  TensorAndContextParallel,     // tp_cp      ("tp-cp")
  ExpertModelParallel,          // ep         EXPERT_MODEL_PARALLEL_GROUP   (expert "ep")
  ExpertTensorParallel,         // expert_tp  EXPERT_TENSOR_PARALLEL_GROUP  (expert "tp")
  ExpertTensorAndModelParallel, // expert_tp_ep                             (expert "tp-ep")
  ExpertTensorModelPipeline,    // expert_mp  EXPERT_TENSOR_MODEL_PIPELINE_PARALLEL_GROUP (expert "tp-ep-pp")
  ExpertDataParallel,           // expert_dp  EXPERT_DATA_PARALLEL_GROUP    (expert "dp")
};
inline constexpr int kNumGroupKinds = 16;

// Every kind, in Megatron-Core's creation order.
const std::array<GroupKind, kNumGroupKinds>& all_group_kinds();
// "dp_cp", "dp", ..., "expert_dp" (the names `primus parallel layout` prints).
std::string_view group_name(GroupKind kind);

// A rank's position in each group (Megatron's get_*_rank()).
struct RankCoordinates {
  int rank = 0;
  int tp = 0, cp = 0, dp = 0, pp = 0;
  int ep = 0, expert_tp = 0, expert_dp = 0;
};

class ProcessGroups {
 public:
  ProcessGroups(const ParallelSizes& sizes, const EmbeddingPlacement& embedding = {});

  const ParallelSizes& sizes() const { return sizes_; }
  int world_size() const { return sizes_.world; }
  // Every group of a kind, in generator order.
  const RankGroups& groups(GroupKind kind) const { return groups_[static_cast<std::size_t>(kind)]; }
  // The group of `kind` holding `rank`, or nullptr (embedding groups do not hold every rank).
  const std::vector<int>* group_of(GroupKind kind, int rank) const;
  // Index of that group in groups(kind), or -1.
  int group_index(GroupKind kind, int rank) const;
  RankCoordinates coordinates(int rank) const;

 private:
  ParallelSizes sizes_;
  std::array<RankGroups, kNumGroupKinds> groups_;
  // group_index_[kind][rank]: which group of that kind holds the rank (-1: none).
  std::array<std::vector<int>, kNumGroupKinds> group_index_;
};

}  // namespace primus::parallel
