#include "model/rope_table_cache.hpp"

namespace primus::model {

const float* RopeTableCache::get(const kernels::RopeConfig& cfg, std::int64_t seq) {
  for (const auto& e : entries_)
    if (e->seq == seq && e->cfg == cfg) return e->table.data();
  auto e = std::make_unique<Entry>(Entry{cfg, seq, std::vector<float>(kernels::rope_table_size(cfg, seq))});
  kernels::rope_tables(cfg, seq, e->table.data());
  entries_.push_back(std::move(e));
  return entries_.back()->table.data();
}

}  // namespace primus::model
