#include "checkpoint/hf/hf_convert.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "checkpoint/checkpoint_builder.hpp"
#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/hf/hf_config.hpp"
#include "checkpoint/hf/hf_tensor_map.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/output_folder.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_stream_writer.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint::hf {

namespace {

nlohmann::json read_json_file(const fs::path& path, const char* what) {
  const std::string text = read_input_file(path, what, 64ull << 20);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// The model's safetensors files, and which file holds each tensor.
struct HfFiles {
  std::vector<std::unique_ptr<io::SafetensorsReader>> readers;
  std::map<std::string, const io::SafetensorsReader*> where;
};

HfFiles open_hf_files(const fs::path& dir) {
  HfFiles out;
  std::error_code ec;
  const fs::path index = dir / "model.safetensors.index.json", single = dir / "model.safetensors";
  std::vector<std::string> names;
  if (fs::exists(index, ec)) {
    const nlohmann::json j = read_json_file(index, "safetensors index");
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: has no \"weight_map\" object", index.string());
    std::set<std::string> files;
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos)
        fail("{}: tensor '{}' maps to '{}', not a file name", index.string(), tensor, file.dump());
      files.insert(file.get<std::string>());
    }
    names.assign(files.begin(), files.end());
  } else if (fs::exists(single, ec)) {
    names = {"model.safetensors"};
  } else {
    if (fs::exists(dir / "pytorch_model.bin", ec) || fs::exists(dir / "pytorch_model.bin.index.json", ec))
      fail("{}: holds pytorch_model.bin, which this program does not read (it is a Python pickle); save the model "
           "with safe_serialization=True (model.safetensors)", dir.string());
    fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
  }
  for (const std::string& n : names) {
    out.readers.push_back(std::make_unique<io::SafetensorsReader>(dir / n));
    for (const io::TensorEntry& e : out.readers.back()->tensors()) {
      if (out.where.count(e.name)) fail("{}: tensor '{}' is in two files", (dir / n).string(), e.name);
      out.where[e.name] = out.readers.back().get();
    }
  }
  return out;
}

std::string shape_text(const std::vector<std::int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace

ImportResult import_hf(const config::Args& args, const model::ModelConfig& config, const std::vector<ModelTensor>& tensors,
                       const fs::path& hf_dir, const fs::path& output, nlohmann::json state) {
  std::error_code ec;
  if (!fs::is_directory(hf_dir, ec)) fail("{}: Hugging Face model folder not found", hf_dir.string());
  const fs::path config_path = hf_dir / "config.json";
  const nlohmann::json hf_config = read_json_file(config_path, "Hugging Face config");
  const std::string type = hf_config.value("model_type", std::string());
  const std::optional<Family> family = family_from_model_type(type);
  if (!family)
    fail("{}: model_type '{}' is not one this program converts ({})", config_path.string(), type, supported_model_types());
  check_hf_config(hf_config, *family, args, config, config_path.string());

  HfFiles files = open_hf_files(hf_dir);
  const TensorMap map = tensor_map(*family, config, tensors);
  std::set<std::string> used;
  std::map<std::string, const Mapping*> by_ours;
  for (const Mapping& m : map.mappings) {
    by_ours[m.ours.name] = &m;
    for (const HfTensor& h : m.hf) {
      auto it = files.where.find(h.name);
      if (it == files.where.end())
        fail("{}: tensor '{}' is missing (needed for '{}')", hf_dir.string(), h.name, m.ours.name);
      const io::TensorEntry& e = it->second->entry(h.name);
      if (e.shape != h.shape)
        fail("{}: tensor '{}' has shape {} but the experiment's model needs {}", it->second->path().string(), h.name,
             shape_text(e.shape), shape_text(h.shape));
      used.insert(h.name);
    }
  }
  for (const HfCopy& c : map.copies)
    if (auto it = files.where.find(c.tensor.name); it != files.where.end()) used.insert(c.tensor.name);
  for (const auto& [name, reader] : files.where)
    if (!used.count(name) && !name.ends_with("rotary_emb.inv_freq"))
      fail("{}: tensor '{}' is not part of the experiment's model (check the experiment's architecture)",
           reader->path().string(), name);

  CheckpointBuilder builder(output, kRelease);
  std::vector<std::vector<float>> parts;
  builder.write(tensors, [&](const ModelTensor& t, float* out) {
    const Mapping& m = *by_ours.at(t.name);
    parts.resize(m.hf.size());
    std::vector<const float*> ptrs;
    for (std::size_t k = 0; k < m.hf.size(); ++k) {
      parts[k] = files.where.at(m.hf[k].name)->read_f32(m.hf[k].name);
      ptrs.push_back(parts[k].data());
    }
    hf_to_ours(m, ptrs, config, out);
  });
  state["source"] = {{"format", "huggingface"}, {"path", fs::absolute(hf_dir).string()}, {"model_type", type}};
  state["release"] = true;
  const SaveResult saved = builder.commit(std::move(state));
  return ImportResult{saved.dir, *family, static_cast<std::int64_t>(tensors.size()), saved.bytes};
}

ExportResult export_hf(const config::Args& args, const model::ModelConfig& config, const std::vector<ModelTensor>& tensors,
                       CheckpointReader& ckpt, const fs::path& output, const ExportOptions& options) {
  const Family family = options.family.value_or(infer_family(args));
  // Refuses what the family cannot express before anything is written.
  nlohmann::ordered_json cfg = make_hf_config(family, args, config, options.bf16 ? "bfloat16" : "float32", options.bos, options.eos);
  const TensorMap map = tensor_map(family, config, tensors);
  for (const Mapping& m : map.mappings) {
    if (!ckpt.has(m.ours.name))
      fail("{}: the checkpoint has no tensor '{}' (a checkpoint of another model?)", ckpt.dir().string(), m.ours.name);
    const StoredTensor& st = ckpt.tensor(m.ours.name);
    const bool vocab = m.ours.name == "embedding.word_embeddings.weight" || m.ours.name == "output_layer.weight";
    if (st.cols() != m.ours.cols || (!vocab && st.rows() != m.ours.rows))
      fail("{}: tensor '{}' has shape {} in the checkpoint but {} in the experiment's model", ckpt.dir().string(), m.ours.name,
           shape_text(st.shape), shape_text(m.ours.shape()));
  }

  std::error_code ec;
  if (fs::exists(output, ec) && !(fs::is_directory(output, ec) && fs::is_empty(output, ec)))
    fail("{}: already exists and is not an empty folder; choose a new output folder", output.string());
  const fs::path parent = output.parent_path().empty() ? fs::path(".") : output.parent_path();
  prepare_output_folder(parent, "output folder");
  const fs::path partial = parent / fmt::format(".{}.partial", output.filename().string());
  fs::remove_all(partial, ec);
  fs::create_directory(partial, ec);
  if (ec) fail("{}: cannot create the folder: {}", partial.string(), ec.message());

  // Shards: whole mappings (and copies) in order, cut at max_shard_bytes.
  const std::size_t elem = options.bf16 ? 2 : 4;
  struct Item {
    const Mapping* mapping = nullptr;
    const HfCopy* copy = nullptr;
    std::uint64_t bytes = 0;
  };
  std::vector<Item> items;
  for (const Mapping& m : map.mappings) {
    std::uint64_t b = 0;
    for (const HfTensor& h : m.hf) b += static_cast<std::uint64_t>(h.numel()) * elem;
    items.push_back({&m, nullptr, b});
  }
  for (const HfCopy& c : map.copies) items.push_back({nullptr, &c, static_cast<std::uint64_t>(c.tensor.numel()) * elem});
  std::vector<std::vector<const Item*>> shards;
  std::uint64_t in_shard = 0, total = 0;
  for (const Item& it : items) {
    if (shards.empty() || (in_shard > 0 && in_shard + it.bytes > options.max_shard_bytes)) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&it);
    in_shard += it.bytes;
    total += it.bytes;
  }

  ExportResult result;
  result.family = family;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::map<std::string, std::vector<float>> converted;  // an HF tensor's values, kept for its copies
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shards.size() == 1 ? std::string("model.safetensors")
                                                : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::map<std::string, std::vector<float>> values;
    for (const Item* it : shards[s]) {
      if (it->mapping) {
        const Mapping& m = *it->mapping;
        const Region region = whole_region(m.ours.rows, m.ours.cols);
        std::vector<float> ours(static_cast<std::size_t>(region.numel()));
        ckpt.read(m.ours.name, region, ours.data(), /*zero_fill_extra_rows=*/true);
        std::vector<float*> outs;
        for (const HfTensor& h : m.hf) {
          auto& v = values[h.name];
          v.resize(static_cast<std::size_t>(h.numel()));
          outs.push_back(v.data());
        }
        ours_to_hf(m, ours.data(), config, outs);
        for (const HfTensor& h : m.hf)
          if (std::any_of(map.copies.begin(), map.copies.end(), [&](const HfCopy& c) { return c.of == h.name; }))
            converted[h.name] = values[h.name];
      } else {
        auto src = converted.find(it->copy->of);
        if (src == converted.end()) fail("internal: '{}' copies '{}', which was not converted", it->copy->tensor.name, it->copy->of);
        values[it->copy->tensor.name] = src->second;
      }
    }
    std::vector<io::TensorDecl> decls;
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const Item* it : shards[s]) {
      if (it->mapping)
        for (const HfTensor& h : it->mapping->hf) shapes[h.name] = h.shape;
      else
        shapes[it->copy->tensor.name] = it->copy->tensor.shape;
    }
    for (const auto& [n, shape] : shapes) {
      decls.push_back({n, options.bf16 ? io::StDType::BF16 : io::StDType::F32, shape});
      weight_map[n] = name;
    }
    io::SafetensorsStreamWriter writer(partial / name, std::move(decls), {{"format", "pt"}});
    std::vector<bf16> half;
    for (const io::TensorDecl& d : writer.order()) {
      const std::vector<float>& v = values.at(d.name);
      if (options.bf16) {
        half.resize(v.size());
        convert_f32_to_bf16(v.data(), half.data(), v.size());
        writer.write(half.data(), half.size() * sizeof(bf16));
      } else {
        writer.write(v.data(), v.size() * sizeof(float));
      }
    }
    result.bytes += writer.bytes_written();
    writer.commit();
    result.files.push_back(name);
  }
  if (shards.size() > 1) {
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    io::write_file_atomically(partial / "model.safetensors.index.json", index.dump(2) + "\n");
    result.files.push_back("model.safetensors.index.json");
  }
  io::write_file_atomically(partial / "config.json", cfg.dump(2) + "\n");
  result.files.push_back("config.json");
  if (options.tokenizer_json) {
    const fs::path dir = options.tokenizer_json->parent_path();
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
      const fs::path src = f == std::string("tokenizer.json") ? *options.tokenizer_json : dir / f;
      if (!fs::exists(src, ec)) continue;
      io::write_file_atomically(partial / f, read_input_file(src, "tokenizer file", 1ull << 30));
      result.files.push_back(f);
    }
  }
  if (fs::exists(output, ec)) fs::remove(output, ec);  // the empty folder it replaces
  if (std::rename(partial.c_str(), output.c_str()) != 0)
    fail("{}: cannot rename the written model into place: {}", output.string(), std::strerror(errno));
  sync_folder(parent);
  return result;
}

}  // namespace primus::checkpoint::hf
