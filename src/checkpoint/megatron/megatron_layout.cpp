#include "checkpoint/megatron/megatron_layout.hpp"

#include <map>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::checkpoint::megatron {

std::int64_t MegatronLayout::padded_vocab(std::int64_t vocab) const {
  const std::int64_t m = make_vocab_size_divisible_by * tp;
  return (vocab + m - 1) / m * m;
}

void MegatronLayout::validate(const model::ModelConfig& c) const {
  if (tp < 1 || pp < 1 || ep < 1 || vpp < 1) fail("parallel sizes must be positive");
  if (c.num_layers % (pp * vpp) != 0)
    fail("--pipeline-model-parallel-size {} × --virtual-pipeline-model-parallel-size {} must divide num_layers {} (uneven "
         "pipeline splits are not written by this exporter)",
         pp, vpp, c.num_layers);
  if (c.heads % tp != 0) fail("--tensor-model-parallel-size {} must divide num_attention_heads {}", tp, c.heads);
  if (!c.multi_latent_attention && c.groups % tp != 0)
    fail("--tensor-model-parallel-size {} must divide num_query_groups {} (each rank holds whole query groups)", tp, c.groups);
  if (c.ffn % tp != 0) fail("--tensor-model-parallel-size {} must divide ffn_hidden_size {}", tp, c.ffn);
  if (c.moe_layers() > 0) {
    if (c.moe.experts % ep != 0) fail("--expert-model-parallel-size {} must divide num_experts {}", ep, c.moe.experts);
    if (c.moe.ffn % tp != 0 || c.moe.shared_ffn % tp != 0)
      fail("--tensor-model-parallel-size {} must divide the experts' and shared experts' hidden sizes", tp);
    if (grouped_gemm && !transformer_engine)
      fail("moe_grouped_gemm with transformer_impl local is Megatron's legacy GroupedMLP (weight1/weight2), which this "
           "exporter does not write; use transformer_engine or no grouped GEMM");
  } else if (ep != 1) {
    fail("--expert-model-parallel-size {} needs a model with experts", ep);
  }
  if (c.multi_latent_attention && !transformer_engine && tp > 1)
    fail("multi-latent attention with transformer_impl local and tensor parallelism is not written by this exporter; use "
         "transformer_engine");
  if (c.linear_bias && tp > 1 && c.swiglu)
    fail("linear biases with SwiGLU and tensor parallelism are not written by this exporter");
}

namespace {

enum class Split { Whole, Rows, Cols, GateUp };

bool starts(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// How the tensor-parallel ranks split a tensor (by its name within a layer, or top level).
Split split_of(const std::string& rest) {
  static const std::map<std::string, Split> table = {
      {"self_attention.linear_qkv.weight", Split::Rows},     {"self_attention.linear_qkv.bias", Split::Rows},
      {"self_attention.linear_proj.weight", Split::Cols},    {"self_attention.linear_q_proj.weight", Split::Rows},
      {"self_attention.linear_q_up_proj.weight", Split::Rows}, {"self_attention.linear_kv_up_proj.weight", Split::Rows},
      {"mlp.linear_fc1.weight", Split::GateUp},              {"mlp.linear_fc1.bias", Split::GateUp},
      {"mlp.linear_fc2.weight", Split::Cols},                {"mlp.shared_experts.linear_fc1.weight", Split::GateUp},
      {"mlp.shared_experts.linear_fc2.weight", Split::Cols}, {"eh_proj.weight", Split::Rows},
      {"embedding.word_embeddings.weight", Split::Rows},     {"output_layer.weight", Split::Rows},
  };
  if (auto it = table.find(rest); it != table.end()) return it->second;
  if (rest.find("mlp.experts.local_experts.") != std::string::npos) {
    if (rest.ends_with("linear_fc1.weight") || rest.ends_with("linear_fc1.bias")) return Split::GateUp;
    if (rest.ends_with("linear_fc2.weight")) return Split::Cols;
  }
  return Split::Whole;
}

Region tp_region(const ModelTensor& t, Split split, std::int64_t rows, std::int64_t r, std::int64_t tp, bool swiglu) {
  Region g;
  const std::int64_t cols = t.cols ? t.cols : 1;
  g.cols = cols;
  switch (split) {
    case Split::Whole:
      g.rows = {{0, rows}};
      break;
    case Split::Rows:
      g.rows = {{r * rows / tp, rows / tp}};
      break;
    case Split::Cols:
      g.rows = {{0, rows}};
      g.col_begin = r * cols / tp;
      g.cols = cols / tp;
      break;
    case Split::GateUp:
      if (!swiglu) {
        g.rows = {{r * rows / tp, rows / tp}};
      } else {
        const std::int64_t half = rows / 2, part = half / tp;
        g.rows = {{r * part, part}, {half + r * part, part}};
      }
      break;
  }
  return g;
}

// A layer tensor's name (relative to the layer) in Megatron's spec.
std::string layer_key(const std::string& rest, const model::ModelConfig& c, bool te, bool grouped, bool moe_layer,
                      std::int64_t expert_first) {
  if (te) {
    if (!c.multi_latent_attention) {
      if (rest == "input_layernorm.weight") return "self_attention.linear_qkv.layer_norm_weight";
      if (rest == "input_layernorm.bias") return "self_attention.linear_qkv.layer_norm_bias";
    } else {
      if (rest == "self_attention.q_layernorm.weight") return "self_attention.linear_q_up_proj.layer_norm_weight";
      if (rest == "self_attention.q_layernorm.bias") return "self_attention.linear_q_up_proj.layer_norm_bias";
      if (rest == "self_attention.kv_layernorm.weight") return "self_attention.linear_kv_up_proj.layer_norm_weight";
      if (rest == "self_attention.kv_layernorm.bias") return "self_attention.linear_kv_up_proj.layer_norm_bias";
    }
    if (!moe_layer) {
      if (rest == "pre_mlp_layernorm.weight") return "mlp.linear_fc1.layer_norm_weight";
      if (rest == "pre_mlp_layernorm.bias") return "mlp.linear_fc1.layer_norm_bias";
    }
  }
  const std::string ex = "mlp.experts.local_experts.";
  if (starts(rest, ex)) {
    const std::size_t dot = rest.find('.', ex.size());
    const std::int64_t e = std::stoll(rest.substr(ex.size(), dot - ex.size())) - expert_first;
    const std::string tail = rest.substr(dot + 1);  // linear_fc1.weight
    if (te && grouped) {
      const std::size_t d2 = tail.find('.');
      return fmt::format("mlp.experts.{}.{}{}", tail.substr(0, d2), tail.substr(d2 + 1), e);
    }
    return fmt::format("{}{}.{}", ex, e, tail);
  }
  return rest;
}

// The linear modules of a layer whose _extra_state (None) the spec saves.
std::vector<std::string> layer_extra_states(const model::ModelConfig& c, bool te, bool grouped, bool moe_layer,
                                            std::int64_t local_experts) {
  std::vector<std::string> out;
  if (c.multi_latent_attention) {
    if (c.mla.q_lora_rank) {
      out.push_back("self_attention.linear_q_down_proj");
      out.push_back("self_attention.linear_q_up_proj");
    } else {
      out.push_back("self_attention.linear_q_proj");
    }
    out.push_back("self_attention.linear_kv_down_proj");
    out.push_back("self_attention.linear_kv_up_proj");
  } else {
    out.push_back("self_attention.linear_qkv");
  }
  out.push_back("self_attention.linear_proj");
  if (te) out.push_back("self_attention.core_attention");
  if (!moe_layer) {
    out.push_back("mlp.linear_fc1");
    out.push_back("mlp.linear_fc2");
  } else {
    if (te && grouped) {
      out.push_back("mlp.experts.linear_fc1");
      out.push_back("mlp.experts.linear_fc2");
    } else {
      for (std::int64_t e = 0; e < local_experts; ++e) {
        out.push_back(fmt::format("mlp.experts.local_experts.{}.linear_fc1", e));
        out.push_back(fmt::format("mlp.experts.local_experts.{}.linear_fc2", e));
      }
    }
    if (c.moe.shared_ffn > 0) {
      out.push_back("mlp.shared_experts.linear_fc1");
      out.push_back("mlp.shared_experts.linear_fc2");
    }
  }
  return out;
}

}  // namespace

std::vector<RankFile> megatron_files(const MegatronLayout& L, const model::ModelConfig& c,
                                     const std::vector<ModelTensor>& tensors) {
  L.validate(c);
  const std::int64_t padded = L.padded_vocab(c.vocab);
  const std::int64_t per_chunk = c.num_layers / (L.pp * L.vpp);
  const std::int64_t E = c.moe.experts, local_E = E > 0 ? E / L.ep : 0;
  std::vector<RankFile> files;
  for (std::int64_t p = 0; p < L.pp; ++p)
    for (std::int64_t t = 0; t < L.tp; ++t)
      for (std::int64_t e = 0; e < L.ep; ++e) {
        RankFile f;
        f.tp = t;
        f.pp = p;
        f.ep = e;
        f.folder = fmt::format("mp_rank_{:02d}", t);
        if (L.pp > 1) f.folder += fmt::format("_{:03d}", p);
        if (L.ep > 1) f.folder += fmt::format("_{:03d}", e);
        f.chunks.resize(static_cast<std::size_t>(L.vpp));
        const bool first = p == 0, last = p == L.pp - 1;
        auto add = [&](std::int64_t chunk, std::string key, const ModelTensor& tn, Split split, std::int64_t rows) {
          MegatronEntry m;
          m.key = std::move(key);
          m.tensor = tn.name;
          m.region = tp_region(tn, split, rows, t, L.tp, c.swiglu);
          m.shape = tn.cols ? std::vector<std::int64_t>{m.region.row_count(), m.region.cols}
                            : std::vector<std::int64_t>{m.region.row_count()};
          f.chunks[static_cast<std::size_t>(chunk)].push_back(std::move(m));
        };
        auto extra = [&](std::int64_t chunk, std::string key) {
          f.chunks[static_cast<std::size_t>(chunk)].push_back(MegatronEntry{std::move(key) + "._extra_state", "", {}, {}});
        };
        const ModelTensor* embedding = nullptr;
        for (const ModelTensor& tn : tensors)
          if (tn.name == "embedding.word_embeddings.weight") embedding = &tn;
        for (const ModelTensor& tn : tensors) {
          const std::string& n = tn.name;
          if (n == "embedding.word_embeddings.weight") {
            if (first) add(0, n, tn, Split::Rows, padded);
            // The MTP stage keeps its own copy of the embedding (Megatron: embedding on the MTP stage).
            if (last && !first && c.mtp_layers > 0) add(L.vpp - 1, n, tn, Split::Rows, padded);
            continue;
          }
          if (n == "output_layer.weight" || n == "decoder.final_layernorm.weight" || n == "decoder.final_layernorm.bias") {
            if (last) add(L.vpp - 1, n, tn, split_of(n), n == "output_layer.weight" ? padded : tn.rows);
            continue;
          }
          std::int64_t layer = -1, mtp = -1;
          std::string rest;
          if (starts(n, "decoder.layers.")) {
            const std::size_t dot = n.find('.', 15);
            layer = std::stoll(n.substr(15, dot - 15));
            rest = n.substr(dot + 1);
          } else if (starts(n, "mtp.layers.")) {
            const std::size_t dot = n.find('.', 11);
            mtp = std::stoll(n.substr(11, dot - 11));
            rest = n.substr(dot + 1);
          } else {
            fail("internal: tensor '{}' has no place in Megatron's layout", n);
          }
          // Experts of another expert rank are not in this file.
          std::int64_t expert_first = e * local_E;
          const std::size_t ex = rest.find("mlp.experts.local_experts.");
          if (ex != std::string::npos) {
            const std::size_t b = ex + 26, d = rest.find('.', b);
            const std::int64_t id = std::stoll(rest.substr(b, d - b));
            if (id < expert_first || id >= expert_first + local_E) continue;
          }
          if (layer >= 0) {
            // Layer `layer` sits on stage p, chunk v when layer = (v·PP + p)·per_chunk + local.
            const std::int64_t block = layer / per_chunk, v = block / L.pp, stage = block % L.pp;
            if (stage != p) continue;
            const bool moe = c.layer_spec(layer).mlp == model::MlpKind::MoE;
            add(v, fmt::format("decoder.layers.{}.{}", layer % per_chunk,
                               layer_key(rest, c, L.transformer_engine, L.grouped_gemm, moe, expert_first)),
                tn, split_of(rest), tn.rows);
          } else {
            if (!last) continue;
            std::string key;
            if (starts(rest, "transformer_layer.")) {
              const bool moe = c.mtp_layer_spec().mlp == model::MlpKind::MoE;
              const std::string inner = rest.substr(18);
              key = fmt::format("mtp.layers.{}.mtp_model_layer.{}", mtp,
                                layer_key(inner, c, L.transformer_engine, L.grouped_gemm, moe, expert_first));
              add(L.vpp - 1, key, tn, split_of(inner), tn.rows);
            } else {
              add(L.vpp - 1, fmt::format("mtp.layers.{}.{}", mtp, rest), tn, split_of(rest), tn.rows);
            }
          }
        }
        // Tied output weights across pipeline stages: the last stage keeps a copy as output_layer.
        if (c.tied_embeddings && L.pp > 1 && last && embedding)
          add(L.vpp - 1, "output_layer.weight", *embedding, Split::Rows, padded);
        // _extra_state entries of the linear modules.
        for (std::int64_t v = 0; v < L.vpp; ++v)
          for (std::int64_t local = 0; local < per_chunk; ++local) {
            const std::int64_t layer = (v * L.pp + p) * per_chunk + local;
            const bool moe = c.layer_spec(layer).mlp == model::MlpKind::MoE;
            for (const std::string& m : layer_extra_states(c, L.transformer_engine, L.grouped_gemm, moe, local_E))
              extra(v, fmt::format("decoder.layers.{}.{}", local, m));
          }
        if (last) {
          if (!c.tied_embeddings || L.pp > 1) extra(L.vpp - 1, "output_layer");
          for (std::int64_t j = 0; j < c.mtp_layers; ++j) {
            extra(L.vpp - 1, fmt::format("mtp.layers.{}.eh_proj", j));
            for (const std::string& m : layer_extra_states(c, L.transformer_engine, L.grouped_gemm,
                                                           c.mtp_layer_spec().mlp == model::MlpKind::MoE, local_E))
              extra(L.vpp - 1, fmt::format("mtp.layers.{}.mtp_model_layer.{}", j, m));
          }
        }
        files.push_back(std::move(f));
      }
  return files;
}

}  // namespace primus::checkpoint::megatron
