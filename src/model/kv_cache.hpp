// The keys and values of the tokens decoded so far (generation with a KV cache): per attention
// layer, one row per position of what that layer's attention needs to attend to the past —
// SelfAttention: the rotated keys and the values of its key/value groups; multi-latent
// attention: each head's assembled key [k_nope | k_rope] and value (the expanded form: larger
// than the latent, but no up-projection of the whole past at every step). Allocated once for
// `capacity` positions (PipelineStage::make_kv_cache).
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.hpp"
#include "model/rope_table_cache.hpp"

namespace primus::model {

// Floats per cached token of one layer.
struct KvWidths {
  std::int64_t k = 0, v = 0;
};

struct KvCache {
  struct Layer {
    KvWidths widths;
    AlignedBuffer<float> k, v;  // [capacity, widths.k], [capacity, widths.v]
  };
  std::int64_t capacity = 0;          // positions
  std::int64_t length = 0;            // positions cached
  std::vector<Layer> layers;          // the stage's layers, in order
  RopeTableCache rope_tables;         // rotary tables over `capacity` positions
  std::vector<std::int32_t> positions;  // scratch: the positions of the tokens being decoded
  AlignedBuffer<float> workspace;     // attention_decode's
};

}  // namespace primus::model
