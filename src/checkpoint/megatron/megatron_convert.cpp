#include "checkpoint/megatron/megatron_convert.hpp"

#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checkpoint/checkpoint_builder.hpp"
#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/model_io.hpp"
#include "checkpoint/megatron/torch_archive.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/output_folder.hpp"
#include "io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint::megatron {

namespace {

PyPtr from_json(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return py_none();
    case nlohmann::json::value_t::boolean: return py_bool(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return py_int(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_float: return py_float(j.get<double>());
    case nlohmann::json::value_t::string: return py_str(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      auto l = py_list();
      for (const auto& x : j) l->items.push_back(from_json(x));
      return l;
    }
    case nlohmann::json::value_t::object: {
      auto d = py_dict();
      for (const auto& [k, v] : j.items()) py_set(*d, k, from_json(v));
      return d;
    }
    default: return py_none();
  }
}

std::int64_t int_arg(const PyValue& args, const char* key, std::int64_t fallback) {
  const PyValue* v = args.get(key);
  return v && v->kind == PyValue::Kind::Int ? v->i : fallback;
}

}  // namespace

ExportMegatronResult export_megatron(const model::ModelConfig& c, const std::vector<ModelTensor>& tensors,
                                     CheckpointReader& ckpt, nlohmann::json args, const fs::path& output,
                                     const ExportMegatronOptions& o) {
  const MegatronLayout& L = o.layout;
  const std::vector<RankFile> files = megatron_files(L, c, tensors);
  const nlohmann::json& st = ckpt.state();
  const bool release = st.value("release", false);
  const std::int64_t iteration = release ? kRelease : ckpt.iteration();
  // The Namespace: the run's arguments, with the target layout.
  if (!args.is_object()) args = nlohmann::json::object();
  // The architecture Megatron checks on load (check_checkpoint_args), from the model itself.
  args["num_layers"] = c.num_layers;
  args["hidden_size"] = c.hidden;
  args["ffn_hidden_size"] = c.ffn;
  args["num_attention_heads"] = c.heads;
  args["num_query_groups"] = c.groups;
  args["group_query_attention"] = c.groups != c.heads;
  args["kv_channels"] = c.head_dim;
  args["swiglu"] = c.swiglu;
  args["untie_embeddings_and_output_weights"] = !c.tied_embeddings;
  args["tensor_model_parallel_size"] = L.tp;
  args["pipeline_model_parallel_size"] = L.pp;
  args["expert_model_parallel_size"] = L.ep;
  args["virtual_pipeline_model_parallel_size"] = L.vpp > 1 ? nlohmann::json(L.vpp) : nlohmann::json(nullptr);
  args["make_vocab_size_divisible_by"] = L.make_vocab_size_divisible_by;
  args["padded_vocab_size"] = L.padded_vocab(c.vocab);
  args["transformer_impl"] = L.transformer_engine ? "transformer_engine" : "local";
  args["moe_grouped_gemm"] = L.grouped_gemm;
  args["add_position_embedding"] = args.value("position_embedding_type", std::string("rope")) == "learned_absolute";
  args["iteration"] = release ? 0 : ckpt.iteration();
  if (st.contains("training")) {
    args["consumed_train_samples"] = st["training"].value("consumed_train_samples", std::int64_t{0});
    args["consumed_valid_samples"] = st["training"].value("consumed_valid_samples", std::int64_t{0});
  }
  PyPtr ns = from_json(args);
  ns->namespace_ = true;

  prepare_output_folder(output, "output folder");
  const std::string dir_name = iteration_dir_name(iteration);
  const fs::path partial = output / fmt::format(".{}.partial", dir_name), final = output / dir_name;
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::create_directories(partial, ec);
  if (ec) fail("{}: cannot create the folder: {}", partial.string(), ec.message());
  ExportMegatronResult result;
  result.dir = final;
  for (const RankFile& f : files) {
    auto root = py_dict();
    py_set(*root, "args", ns);
    py_set(*root, "checkpoint_version", py_float(3.0));
    py_set(*root, "iteration", py_int(release ? 0 : ckpt.iteration()));
    std::vector<std::vector<float>> values;
    std::vector<std::vector<bf16>> halves;
    std::vector<TorchStorage> storages;
    for (std::size_t v = 0; v < f.chunks.size(); ++v) {
      auto model = py_dict(/*ordered=*/true);
      for (const MegatronEntry& e : f.chunks[v]) {
        if (e.tensor.empty()) {
          py_set(*model, e.key, py_none());
          continue;
        }
        std::vector<float> data(static_cast<std::size_t>(e.region.numel()));
        ckpt.read(e.tensor, e.region, data.data(), is_vocabulary_tensor(e.tensor));
        TensorRef t;
        t.key = std::to_string(storages.size());
        t.storage_type = o.bf16 ? "BFloat16Storage" : "FloatStorage";
        t.storage_numel = e.region.numel();
        t.size = e.shape;
        t.stride = e.shape.size() == 2 ? std::vector<std::int64_t>{e.shape[1], 1} : std::vector<std::int64_t>{1};
        if (o.bf16) {
          halves.emplace_back(data.size());
          convert_f32_to_bf16(data.data(), halves.back().data(), data.size());
          storages.push_back({t.key, halves.back().data(), data.size() * 2});
        } else {
          values.push_back(std::move(data));
          storages.push_back({t.key, values.back().data(), values.back().size() * 4});
        }
        py_set(*model, e.key, py_tensor(std::move(t)));
      }
      py_set(*root, f.chunks.size() == 1 ? std::string("model") : fmt::format("model{}", v), model);
    }
    // Storage pointers stay valid: values/halves only grow by emplace_back of new vectors whose
    // buffers are not reallocated afterwards (the vectors of vectors may move, their heaps do not).
    const fs::path file = partial / f.folder / "model_optim_rng.pt";
    fs::create_directories(file.parent_path(), ec);
    if (ec) fail("{}: cannot create the folder: {}", file.parent_path().string(), ec.message());
    write_torch_file(file, *root, storages);
    result.bytes += fs::file_size(file);
    ++result.files;
  }
  sync_folder(partial);
  fs::remove_all(final, ec);
  if (std::rename(partial.c_str(), final.c_str()) != 0)
    fail("{}: cannot rename the written checkpoint into place: {}", final.string(), std::strerror(errno));
  sync_folder(output);
  write_tracker(output, iteration);
  return result;
}

namespace {

fs::path megatron_iteration_dir(const fs::path& source, std::int64_t& iteration, bool& release) {
  std::error_code ec;
  if (!fs::is_directory(source, ec)) fail("{}: Megatron checkpoint folder not found", source.string());
  release = false;
  if (const auto tracked = read_tracker(source)) {
    release = *tracked == kRelease;
    iteration = release ? 0 : *tracked;
    const fs::path dir = iteration_dir(source, *tracked);
    if (!fs::is_directory(dir, ec)) fail("{}: missing, although the tracker names it", dir.string());
    return dir;
  }
  const std::string name = source.filename().string();
  if (name == "release") {
    release = true;
    iteration = 0;
    return source;
  }
  if (name.rfind("iter_", 0) == 0) {
    iteration = std::stoll(name.substr(5));
    return source;
  }
  fail("{}: neither a Megatron save folder (no latest_checkpointed_iteration.txt) nor an iter_*/release folder",
       source.string());
}

// A saved architecture argument against the experiment's value.
void check_arg(const PyValue& args, const std::string& key, const nlohmann::json& ours, const std::string& where) {
  const PyValue* v = args.get(key);
  if (!v || v->kind == PyValue::Kind::None) return;
  nlohmann::json theirs;
  switch (v->kind) {
    case PyValue::Kind::Bool: theirs = v->b; break;
    case PyValue::Kind::Int: theirs = v->i; break;
    case PyValue::Kind::Float: theirs = v->f; break;
    case PyValue::Kind::Str: theirs = v->s; break;
    default: return;
  }
  if (theirs != ours && !(ours.is_null() && theirs == 0))
    fail("{}: the Megatron checkpoint's {} is {} but the experiment's is {}", where, key, theirs.dump(), ours.dump());
}

}  // namespace

ImportMegatronResult import_megatron(const config::Args& a, const model::ModelConfig& c,
                                     const std::vector<ModelTensor>& tensors, const fs::path& source,
                                     const fs::path& output, nlohmann::json state) {
  std::int64_t iteration = 0;
  bool release = false;
  const fs::path dir = megatron_iteration_dir(source, iteration, release);
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("mp_rank_", 0) == 0) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  if (folders.empty()) fail("{}: no mp_rank_* folders (a legacy torch checkpoint; distributed torch_dist checkpoints are not read)", dir.string());
  if (fs::exists(dir / "distrib_optim.pt") || fs::exists(folders[0] / "distrib_optim.pt")) {
    // Optimizer shards are not converted; the weights are.
  }

  // Layout and spec from the first file.
  const TorchFile first(folders[0] / "model_optim_rng.pt");
  const PyValue* args = first.root().get("args");
  if (!args || args->kind != PyValue::Kind::Dict) fail("{}: has no 'args' (not a Megatron checkpoint)", first.path().string());
  MegatronLayout L;
  L.tp = int_arg(*args, "tensor_model_parallel_size", 1);
  L.pp = int_arg(*args, "pipeline_model_parallel_size", 1);
  L.ep = int_arg(*args, "expert_model_parallel_size", 1);
  L.vpp = std::max<std::int64_t>(1, int_arg(*args, "virtual_pipeline_model_parallel_size", 1));
  L.make_vocab_size_divisible_by = int_arg(*args, "make_vocab_size_divisible_by", 128);
  const PyValue* chunk0 = first.root().get(L.vpp > 1 ? "model0" : "model");
  if (!chunk0 || chunk0->kind != PyValue::Kind::Dict) fail("{}: has no model state dict", first.path().string());
  bool te = false, grouped = false;
  for (const auto& [k, v] : chunk0->dict) {
    te |= k->s.find("layer_norm_weight") != std::string::npos || k->s.find("core_attention._extra_state") != std::string::npos;
    grouped |= k->s.find("mlp.experts.linear_fc1.weight") != std::string::npos;
  }
  L.transformer_engine = te;
  L.grouped_gemm = grouped;
  const std::string where = first.path().string();
  // The architecture, key by key.
  check_arg(*args, "num_layers", c.num_layers, where);
  check_arg(*args, "hidden_size", c.hidden, where);
  check_arg(*args, "num_attention_heads", c.heads, where);
  if (const PyValue* gqa = args->get("group_query_attention"); gqa && gqa->kind == PyValue::Kind::Bool && gqa->b)
    check_arg(*args, "num_query_groups", c.groups, where);
  check_arg(*args, "kv_channels", c.head_dim, where);
  check_arg(*args, "swiglu", c.swiglu, where);
  check_arg(*args, "qk_layernorm", c.qk_layernorm, where);
  check_arg(*args, "add_bias_linear", c.linear_bias, where);
  check_arg(*args, "untie_embeddings_and_output_weights", !c.tied_embeddings, where);
  check_arg(*args, "normalization", a.normalization, where);
  check_arg(*args, "multi_latent_attention", c.multi_latent_attention, where);
  if (c.moe_layers() > 0) {
    check_arg(*args, "num_experts", c.moe.experts, where);
    check_arg(*args, "moe_router_topk", c.moe.topk, where);
  }
  if (c.mtp_layers > 0) check_arg(*args, "mtp_num_layers", c.mtp_layers, where);
  const std::int64_t their_padded = int_arg(*args, "padded_vocab_size", L.padded_vocab(c.vocab));
  if (their_padded < c.vocab)
    fail("{}: padded_vocab_size {} is smaller than the experiment's vocabulary {}", where, their_padded, c.vocab);

  // What each rank file must hold.
  std::vector<ModelTensor> shaped = tensors;
  for (ModelTensor& t : shaped)
    if (is_vocabulary_tensor(t.name)) t.rows = their_padded;
  MegatronLayout lookup = L;
  const std::vector<RankFile> files = megatron_files(lookup, c, shaped);
  if (static_cast<std::size_t>(L.tp * L.pp * L.ep) != folders.size())
    fail("{}: holds {} rank folders but its args say TP {} × PP {} × EP {} = {}", dir.string(), folders.size(), L.tp, L.pp,
         L.ep, L.tp * L.pp * L.ep);

  const std::int64_t saved_iteration = int_arg(first.root(), "iteration", iteration);
  CheckpointBuilder builder(output, release ? kRelease : saved_iteration);
  std::set<std::pair<std::string, std::string>> taken;  // (tensor, region) already stored
  std::map<std::string, std::vector<std::int64_t>> shape_of;
  for (const ModelTensor& t : shaped) shape_of[t.name] = t.shape();
  for (const RankFile& f : files) {
    const fs::path path = dir / f.folder / "model_optim_rng.pt";
    if (!fs::exists(path)) fail("{}: missing (the checkpoint's args say TP {} × PP {} × EP {})", path.string(), L.tp, L.pp, L.ep);
    const TorchFile file(path);
    std::vector<CheckpointBuilder::Piece> pieces;
    std::vector<const TensorRef*> refs;
    for (std::size_t v = 0; v < f.chunks.size(); ++v) {
      const std::string chunk_key = f.chunks.size() == 1 ? "model" : fmt::format("model{}", v);
      const PyValue* model = file.root().get(chunk_key);
      if (!model || model->kind != PyValue::Kind::Dict) fail("{}: has no '{}' state dict", path.string(), chunk_key);
      std::set<std::string> expected;
      for (const MegatronEntry& e : f.chunks[v]) {
        expected.insert(e.key);
        if (e.tensor.empty()) continue;
        const PyValue* t = model->get(e.key);
        if (!t || t->kind != PyValue::Kind::Tensor)
          fail("{}: tensor '{}' is missing (needed for '{}')", path.string(), e.key, e.tensor);
        if (t->tensor.size != e.shape)
          fail("{}: tensor '{}' has shape [{}] but the experiment's model needs [{}]", path.string(), e.key,
               fmt::join(t->tensor.size, ", "), fmt::join(e.shape, ", "));
        const std::string region_id = region_to_json(e.region).dump();
        if (!taken.insert({e.tensor, region_id}).second) continue;  // a replica already read
        pieces.push_back({e.tensor, shape_of.at(e.tensor), e.region});
        refs.push_back(&t->tensor);
      }
      for (const auto& [k, v2] : model->dict)
        if (!expected.count(k->s) && !k->s.ends_with("._extra_state"))
          fail("{}: tensor '{}' has no counterpart in the experiment's model", path.string(), k->s);
    }
    if (!pieces.empty()) builder.write_file(pieces, [&](std::size_t i, float* out) {
      const std::vector<float> v = file.read_f32(*refs[i]);
      std::memcpy(out, v.data(), v.size() * sizeof(float));
    });
  }
  state["source"] = {{"format", "megatron-legacy-torch"}, {"path", fs::absolute(dir).string()},
                     {"tensor_model_parallel_size", L.tp}, {"pipeline_model_parallel_size", L.pp},
                     {"expert_model_parallel_size", L.ep}};
  state["release"] = release;
  state["training"] = {{"consumed_train_samples", int_arg(*args, "consumed_train_samples", 0)},
                       {"consumed_valid_samples", int_arg(*args, "consumed_valid_samples", 0)}, {"optimizer", nullptr}};
  const SaveResult saved = builder.commit(std::move(state));
  return ImportMegatronResult{saved.dir, release ? 0 : saved_iteration, L, static_cast<std::int64_t>(files.size())};
}

}  // namespace primus::checkpoint::megatron
