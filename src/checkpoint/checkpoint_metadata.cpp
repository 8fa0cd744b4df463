#include "checkpoint/checkpoint_metadata.hpp"

#include <charconv>
#include <set>

#include "core/error.hpp"

namespace primus::checkpoint {

nlohmann::json CheckpointMetadata::to_json() const {
  nlohmann::json files_j = nlohmann::json::array();
  for (const StoredFile& f : files)
    files_j.push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", fmt::format("{:08x}", f.crc32c)}});
  nlohmann::json tensors_j = nlohmann::json::object();
  for (const auto& [name, t] : tensors) {
    nlohmann::json pieces = nlohmann::json::array();
    for (const StoredPiece& p : t.pieces) {
      nlohmann::json pj = region_to_json(p.region);
      pj["file"] = p.file;
      pj["key"] = p.key;
      pieces.push_back(std::move(pj));
    }
    tensors_j[name] = {{"shape", t.shape}, {"dtype", t.dtype}, {"pieces", std::move(pieces)}};
  }
  return {{"format", kFormatName}, {"version", version}, {"iteration", iteration},
          {"state", state},        {"files", files_j},   {"tensors", tensors_j}};
}

const StoredFile* CheckpointMetadata::file(const std::string& name) const {
  for (const StoredFile& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

namespace {

CheckpointMetadata parse_metadata(const nlohmann::json& j, const std::string& path) {
  auto bad = [&](const std::string& what) -> CheckpointMetadata { fail("{}: {}", path, what); };
  if (!j.is_object()) return bad("not a JSON object");
  if (j.value("format", std::string()) != kFormatName)
    return bad(fmt::format("not a Primus checkpoint (\"format\" is not \"{}\")", kFormatName));
  CheckpointMetadata m;
  if (!j.contains("version") || !j["version"].is_number_integer()) return bad("\"version\" missing");
  m.version = j["version"].get<int>();
  if (m.version > kFormatVersion)
    return bad(fmt::format("format version {} is newer than this program reads ({}); update primus", m.version,
                           kFormatVersion));
  if (!j.contains("iteration") || !j["iteration"].is_number_integer()) return bad("\"iteration\" missing");
  m.iteration = j["iteration"].get<std::int64_t>();
  if (j.contains("state")) m.state = j["state"];
  if (!m.state.is_object()) return bad("\"state\" is not an object");
  if (!j.contains("files") || !j["files"].is_array()) return bad("\"files\" missing");
  std::set<std::string> file_names;
  for (const auto& f : j["files"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("bytes") ||
        !f["bytes"].is_number_unsigned() || !f.contains("crc32c") || !f["crc32c"].is_string())
      return bad("an entry of \"files\" needs name, bytes and crc32c");
    StoredFile sf;
    sf.name = f["name"].get<std::string>();
    if (sf.name.empty() || sf.name.find('/') != std::string::npos || sf.name[0] == '.')
      return bad(fmt::format("file name '{}' is not a plain file name", sf.name));
    sf.bytes = f["bytes"].get<std::uint64_t>();
    const std::string hex = f["crc32c"].get<std::string>();
    const auto [end, err] = std::from_chars(hex.data(), hex.data() + hex.size(), sf.crc32c, 16);
    if (hex.size() != 8 || err != std::errc() || end != hex.data() + hex.size())
      return bad(fmt::format("crc32c '{}' of {} is not 8 hex digits", hex, sf.name));
    if (!file_names.insert(sf.name).second) return bad(fmt::format("file {} listed twice", sf.name));
    m.files.push_back(std::move(sf));
  }
  if (!j.contains("tensors") || !j["tensors"].is_object()) return bad("\"tensors\" missing");
  for (const auto& [name, t] : j["tensors"].items()) {
    const std::string where = path + ": tensor '" + name + "'";
    if (!t.is_object() || !t.contains("shape") || !t["shape"].is_array() || !t.contains("pieces") ||
        !t["pieces"].is_array())
      fail("{}: needs shape and pieces", where);
    StoredTensor st;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) fail("{}: bad shape", where);
      st.shape.push_back(d.get<std::int64_t>());
    }
    if (st.shape.empty() || st.shape.size() > 2) fail("{}: shape must have 1 or 2 dimensions", where);
    st.dtype = t.value("dtype", std::string("F32"));
    if (st.dtype != "F32") fail("{}: dtype {} (checkpoints hold F32)", where, st.dtype);
    std::vector<Region> regions;
    for (const auto& p : t["pieces"]) {
      StoredPiece sp;
      sp.region = region_from_json(p, where);
      if (!p.contains("file") || !p["file"].is_string() || !p.contains("key") || !p["key"].is_string())
        fail("{}: a piece needs file and key", where);
      sp.file = p["file"].get<std::string>();
      sp.key = p["key"].get<std::string>();
      if (!file_names.count(sp.file)) fail("{}: piece in {}, which \"files\" does not list", where, sp.file);
      regions.push_back(sp.region);
      st.pieces.push_back(std::move(sp));
    }
    const std::string problem = check_partition(regions, st.rows(), st.cols());
    if (!problem.empty()) fail("{}: {}", where, problem);
    m.tensors.emplace(name, std::move(st));
  }
  return m;
}

}  // namespace

CheckpointMetadata CheckpointMetadata::from_json(const nlohmann::json& j, const std::string& path) {
  // A value of the wrong JSON type anywhere (found by the checkpoint_metadata fuzzer: "format": 10)
  // is the file's fault, named as such.
  try {
    return parse_metadata(j, path);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a valid checkpoint metadata file ({})", path, e.what());
  }
}

}  // namespace primus::checkpoint
