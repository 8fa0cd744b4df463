// Megatron-LM's legacy torch checkpoint layout (megatron-engine.md §11) as a map from each
// rank's state dict to regions of the engine's global tensors:
//
//   iter_NNNNNNN/mp_rank_TT[_PPP][_EEE]/model_optim_rng.pt, state_dict["model"] (or "model{v}" per
//   virtual pipeline chunk) = { "<name>": tensor | None (_extra_state) }
//
// For a tensor-parallel rank t of T: column-parallel weights hold rows [t·R/T, (t+1)·R/T) — the
// fused QKV (whose per-query-group interleave makes that a block of whole groups), MLA's q, q_up
// and kv_up projections, MTP's eh_proj, the vocabulary (rows padded to make_vocab_size_divisible_by
// × T) — SwiGLU's fc1 holds [gate_t; up_t] (two row ranges), row-parallel weights (linear_proj,
// linear_fc2) hold columns; norms, routers, biases of row-parallel layers and MLA's down
// projections are whole on every rank. Pipeline stage p holds its layers renumbered from 0 (plus
// the embedding on the first stage and the final norm, output layer and MTP on the last); expert
// rank e holds experts [e·E/EP, (e+1)·E/EP) renumbered from 0.
// Names follow the layer spec: transformer_engine fuses the norms into the next linear
// (input_layernorm -> self_attention.linear_qkv.layer_norm_weight, pre_mlp_layernorm of a dense
// MLP -> mlp.linear_fc1.layer_norm_weight, MLA's q/kv norms -> linear_q_up_proj /
// linear_kv_up_proj.layer_norm_weight) and names grouped experts mlp.experts.linear_fc1.weight{i};
// local keeps separate norms and mlp.experts.local_experts.{i}.*; MTP layers are
// mtp.layers.{j}.mtp_model_layer.* (the engine's transformer_layer). Linear layers and TE's core
// attention carry `_extra_state` = None.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/model_tensors.hpp"
#include "checkpoint/tensor_region.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint::megatron {

struct MegatronLayout {
  std::int64_t tp = 1, pp = 1, ep = 1, vpp = 1;
  bool transformer_engine = true;   // transformer_impl
  bool grouped_gemm = false;        // moe_grouped_gemm (with transformer_engine: TEGroupedMLP names)
  std::int64_t make_vocab_size_divisible_by = 128;
  std::int64_t padded_vocab(std::int64_t vocab) const;
  // Throws primus::Error naming the option when the model cannot be laid out so.
  void validate(const model::ModelConfig& c) const;
};

struct MegatronEntry {
  std::string key;                  // state-dict name
  std::string tensor;               // the engine's global tensor; empty for an _extra_state (None)
  Region region;                    // the part of the global tensor it holds
  std::vector<std::int64_t> shape;  // the state-dict tensor's shape
};

struct RankFile {
  std::int64_t tp = 0, pp = 0, ep = 0;
  std::string folder;                                 // "mp_rank_00_000"
  std::vector<std::vector<MegatronEntry>> chunks;     // one per virtual chunk ("model" / "model{v}")
};

// Every rank file of the layout with its entries. `tensors` are the engine's (global shapes; the
// vocabulary's rows are what the model uses — entries pad to the layout's padded vocabulary).
std::vector<RankFile> megatron_files(const MegatronLayout& layout, const model::ModelConfig& config,
                                     const std::vector<ModelTensor>& tensors);

}  // namespace primus::checkpoint::megatron
