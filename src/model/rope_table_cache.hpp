// cos/sin tables of rotary embeddings, computed once per distinct configuration and shared by
// every attention block of a stage (one table per layer would cost layers x seq x rot_dim floats).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/rope.hpp"

namespace primus::model {

class RopeTableCache {
 public:
  // The table of rope_tables(cfg, seq); valid as long as the cache lives.
  const float* get(const kernels::RopeConfig& cfg, std::int64_t seq);

 private:
  struct Entry {
    kernels::RopeConfig cfg;
    std::int64_t seq;
    std::vector<float> table;
  };
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace primus::model
