#include "parallel/process_groups.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace primus::parallel {

namespace {

int positive_size(std::int64_t value, const char* key) {
  if (value < 1 || value > (1 << 24)) fail("{} = {} must be a positive process count", key, value);
  return static_cast<int>(value);
}

}  // namespace

ParallelSizes ParallelSizes::from_args(const config::Args& a) {
  ParallelSizes s;
  s.world = positive_size(a.world_size, "world size");
  s.tp = positive_size(a.tensor_model_parallel_size, "tensor_model_parallel_size");
  s.pp = positive_size(a.pipeline_model_parallel_size, "pipeline_model_parallel_size");
  s.cp = positive_size(a.context_parallel_size, "context_parallel_size");
  s.ep = positive_size(a.expert_model_parallel_size, "expert_model_parallel_size");
  s.etp = a.expert_tensor_parallel_size ? positive_size(*a.expert_tensor_parallel_size, "expert_tensor_parallel_size") : s.tp;
  s.tp_pp_dp_order = a.use_tp_pp_dp_mapping;
  s.validate();
  return s;
}

void ParallelSizes::validate() const {
  if (world < 1) fail("world size {} must be at least 1", world);
  const int model = tp * cp * pp;
  if (world % model != 0)
    fail("world size {} is not divisible by tensor × context × pipeline parallel = {}×{}×{} = {}", world, tp, cp, pp,
         model);
  const int expert = etp * ep * pp;
  if (world % expert != 0)
    fail("world size {} is not divisible by expert tensor × expert × pipeline parallel = {}×{}×{} = {}", world, etp,
         ep, pp, expert);
  // Megatron (parallel_state.py): unless pp is the slowest axis, the expert grid's data-parallel
  // axis sits where the dense one does, so both must have the same size (and pipeline groups agree).
  if (tp_pp_dp_order && pp > 1 && edp() != dp())
    fail("use_tp_pp_dp_mapping with pipeline parallelism needs the expert data-parallel size ({} = world {} / "
         "(expert tensor {} × expert {} × pipeline {})) to equal the data-parallel size ({})",
         edp(), world, etp, ep, pp, dp());
}

EmbeddingPlacement EmbeddingPlacement::from_args(const config::Args& a) {
  EmbeddingPlacement e;
  e.tied = !a.untie_embeddings_and_output_weights;
  e.mtp = a.mtp_num_layers && *a.mtp_num_layers > 0;
  if (e.mtp && a.pipeline_model_parallel_layout && a.pipeline_model_parallel_size > 1)
    fail("pipeline_model_parallel_layout = '{}' with mtp_num_layers: placing MTP layers by a custom pipeline layout "
         "is not supported by this engine",
         *a.pipeline_model_parallel_layout);
  return e;
}

const std::array<GroupKind, kNumGroupKinds>& all_group_kinds() {
  static const std::array<GroupKind, kNumGroupKinds> kinds = {
      GroupKind::DataParallelWithCp,        GroupKind::DataParallel,
      GroupKind::ContextParallel,           GroupKind::ModelParallel,
      GroupKind::TensorParallel,            GroupKind::PipelineParallel,
      GroupKind::Embedding,                 GroupKind::PositionEmbedding,
      GroupKind::TensorAndDataParallelWithCp, GroupKind::TensorAndDataParallel,
      GroupKind::TensorAndContextParallel,  GroupKind::ExpertModelParallel,
      GroupKind::ExpertTensorParallel,      GroupKind::ExpertTensorAndModelParallel,
      GroupKind::ExpertTensorModelPipeline, GroupKind::ExpertDataParallel};
  return kinds;
}

std::string_view group_name(GroupKind kind) {
  switch (kind) {
    case GroupKind::DataParallelWithCp: return "dp_cp";
    case GroupKind::DataParallel: return "dp";
    case GroupKind::ContextParallel: return "cp";
    case GroupKind::ModelParallel: return "mp";
    case GroupKind::TensorParallel: return "tp";
    case GroupKind::PipelineParallel: return "pp";
    case GroupKind::Embedding: return "embedding";
    case GroupKind::PositionEmbedding: return "position_embedding";
    case GroupKind::TensorAndDataParallelWithCp: return "tp_dp_cp";
    case GroupKind::TensorAndDataParallel: return "tp_dp";
    case GroupKind::TensorAndContextParallel: return "tp_cp";
    case GroupKind::ExpertModelParallel: return "ep";
    case GroupKind::ExpertTensorParallel: return "expert_tp";
    case GroupKind::ExpertTensorAndModelParallel: return "expert_tp_ep";
    case GroupKind::ExpertTensorModelPipeline: return "expert_mp";
    case GroupKind::ExpertDataParallel: return "expert_dp";
  }
  return "?";
}

ProcessGroups::ProcessGroups(const ParallelSizes& sizes, const EmbeddingPlacement& embedding) : sizes_(sizes) {
  sizes_.validate();
  const std::string order = sizes_.order();
  const RankGenerator dense(sizes_.tp, 1, sizes_.dp(), sizes_.pp, sizes_.cp, order);
  const RankGenerator expert(sizes_.etp, sizes_.ep, sizes_.edp(), sizes_.pp, 1, order);
  auto set = [&](GroupKind k, RankGroups g) { groups_[static_cast<std::size_t>(k)] = std::move(g); };
  set(GroupKind::DataParallelWithCp, dense.get_ranks("dp-cp"));
  set(GroupKind::DataParallel, dense.get_ranks("dp"));
  set(GroupKind::ContextParallel, dense.get_ranks("cp"));
  set(GroupKind::ModelParallel, dense.get_ranks("tp-pp"));
  set(GroupKind::TensorParallel, dense.get_ranks("tp"));
  RankGroups pp = dense.get_ranks("pp");
  RankGroups embedding_groups, position_groups;
  for (const auto& ranks : pp) {
    std::vector<int> e{ranks.front()};
    if (ranks.size() > 1 && (embedding.tied || embedding.mtp)) e.push_back(ranks.back());
    embedding_groups.push_back(std::move(e));
    position_groups.push_back({ranks.front()});
  }
  if (expert.get_ranks("pp") != pp)
    fail("the pipeline groups of the dense and expert layouts differ (order {}, tensor {} × context {} vs expert "
         "tensor {} × expert {}); Megatron requires them to coincide",
         order, sizes_.tp, sizes_.cp, sizes_.etp, sizes_.ep);
  set(GroupKind::PipelineParallel, std::move(pp));
  set(GroupKind::Embedding, std::move(embedding_groups));
  set(GroupKind::PositionEmbedding, std::move(position_groups));
  set(GroupKind::TensorAndDataParallelWithCp, dense.get_ranks("tp-dp-cp"));
  set(GroupKind::TensorAndDataParallel, dense.get_ranks("tp-dp"));
  set(GroupKind::TensorAndContextParallel, dense.get_ranks("tp-cp"));
  set(GroupKind::ExpertModelParallel, expert.get_ranks("ep"));
  set(GroupKind::ExpertTensorParallel, expert.get_ranks("tp"));
  set(GroupKind::ExpertTensorAndModelParallel, expert.get_ranks("tp-ep"));
  set(GroupKind::ExpertTensorModelPipeline, expert.get_ranks("tp-ep-pp"));
  set(GroupKind::ExpertDataParallel, expert.get_ranks("dp"));

  for (GroupKind k : all_group_kinds()) {
    auto& index = group_index_[static_cast<std::size_t>(k)];
    index.assign(static_cast<std::size_t>(sizes_.world), -1);
    const RankGroups& g = groups(k);
    for (std::size_t i = 0; i < g.size(); ++i)
      for (int r : g[i]) {
        if (index[static_cast<std::size_t>(r)] != -1)
          fail("internal: rank {} is in two {} groups", r, group_name(k));
        index[static_cast<std::size_t>(r)] = static_cast<int>(i);
      }
  }
}

int ProcessGroups::group_index(GroupKind kind, int rank) const {
  if (rank < 0 || rank >= sizes_.world) fail("internal: rank {} outside world size {}", rank, sizes_.world);
  return group_index_[static_cast<std::size_t>(kind)][static_cast<std::size_t>(rank)];
}

const std::vector<int>* ProcessGroups::group_of(GroupKind kind, int rank) const {
  const int i = group_index(kind, rank);
  return i < 0 ? nullptr : &groups(kind)[static_cast<std::size_t>(i)];
}

RankCoordinates ProcessGroups::coordinates(int rank) const {
  auto position = [&](GroupKind kind) {
    const std::vector<int>* g = group_of(kind, rank);
    return static_cast<int>(std::find(g->begin(), g->end(), rank) - g->begin());
  };
  RankCoordinates c;
  c.rank = rank;
  c.tp = position(GroupKind::TensorParallel);
  c.cp = position(GroupKind::ContextParallel);
  c.dp = position(GroupKind::DataParallel);
  c.pp = position(GroupKind::PipelineParallel);
  c.ep = position(GroupKind::ExpertModelParallel);
  c.expert_tp = position(GroupKind::ExpertTensorParallel);
  c.expert_dp = position(GroupKind::ExpertDataParallel);
  return c;
}

}  // namespace primus::parallel
