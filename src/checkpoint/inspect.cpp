#include "checkpoint/inspect.hpp"

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "checkpoint/crc32c.hpp"
#include "checkpoint/training_state.hpp"
#include "core/input_file.hpp"

namespace fs = std::filesystem;

namespace primus::checkpoint {

namespace {

std::string file_status(const fs::path& path, const StoredFile& f, bool verify, std::uint32_t* crc_out) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "missing";
  const auto size = fs::file_size(path, ec);
  if (ec) return "unreadable: " + ec.message();
  if (size != f.bytes) return fmt::format("size {} (recorded {}): {}", size, f.bytes, size < f.bytes ? "truncated" : "changed");
  if (!verify) return "size ok (checksum not verified)";
  try {
    const std::uint32_t crc = crc32c_of_file(path);
    *crc_out = crc;
    if (crc != f.crc32c) return fmt::format("CHECKSUM MISMATCH (computed {})", crc32c_hex(crc));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "ok";
}

}  // namespace

Inspection inspect(const CheckpointReader& ckpt, bool verify) {
  Inspection out;
  const CheckpointMetadata& m = ckpt.metadata();
  const nlohmann::json& st = m.state;
  std::string t;
  std::uint64_t total = 0;
  for (const StoredFile& f : m.files) total += f.bytes;
  const bool release = st.value("release", false);
  t += fmt::format("checkpoint   {}\n", ckpt.dir().string());
  t += fmt::format("iteration    {}{}\n", m.iteration, release ? " (release: weights only)" : "");
  t += fmt::format("format       primus-checkpoint version {}, {} file{}, {}\n", m.version, m.files.size(),
                   m.files.size() == 1 ? "" : "s", format_bytes(total));
  if (st.contains("layout")) t += fmt::format("saved with   {}\n", describe_layout(st["layout"]));
  if (st.contains("source")) t += fmt::format("imported     from {} ({})\n", st["source"].value("path", std::string("?")),
                                              st["source"].value("format", std::string("?")));
  if (st.contains("model")) {
    const auto& md = st["model"];
    t += fmt::format("model        {} layers, hidden {}, ffn {}, {} heads ({} query groups, kv_channels {}), vocabulary {} "
                     "(padded {})\n",
                     md.value("num_layers", 0), md.value("hidden_size", 0), md.value("ffn_hidden_size", 0),
                     md.value("num_attention_heads", 0), md.value("num_query_groups", 0), md.value("kv_channels", 0),
                     md.value("vocab_size", 0), md.value("padded_vocab_size", 0));
  }
  if (st.contains("training")) {
    const auto& tr = st["training"];
    t += fmt::format("training     consumed samples {} (validation {})", tr.value("consumed_train_samples", std::int64_t{0}),
                     tr.value("consumed_valid_samples", std::int64_t{0}));
    if (tr.contains("optimizer") && tr["optimizer"].is_object())
      t += fmt::format(", optimizer {} at step {}", tr["optimizer"].value("name", std::string("?")),
                       tr["optimizer"].value("steps", std::int64_t{0}));
    else
      t += ", no optimizer state";
    t += tr.contains("rng") || st.contains("ranks") ? ", RNG state saved" : "";
    t += "\n";
  }

  // Tensors, grouped: parameters/state, then optimizer state.
  std::int64_t params = 0, optim = 0, elements = 0;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  std::string lines;
  for (const auto& [name, ts] : m.tensors) {
    const bool opt = name.starts_with("optimizer.");
    (opt ? optim : params)++;
    std::int64_t n = 1;
    for (auto d : ts.shape) n *= d;
    elements += n;
    tensors[name] = {{"shape", ts.shape}, {"dtype", ts.dtype}, {"pieces", ts.pieces.size()}};
    if (!opt)
      lines += fmt::format("  {:<60} [{}] {} ({} piece{})\n", name, fmt::join(ts.shape, ", "), ts.dtype, ts.pieces.size(),
                           ts.pieces.size() == 1 ? "" : "s");
  }
  t += fmt::format("tensors      {} model tensors, {} optimizer-state tensors, {} values\n", params, optim, elements);
  t += lines;
  t += "files\n";
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const StoredFile& f : m.files) {
    std::uint32_t crc = f.crc32c;
    const std::string status = file_status(ckpt.dir() / f.name, f, verify, &crc);
    const bool ok = status == "ok" || status.starts_with("size ok");
    out.checksums_hold &= ok;
    t += fmt::format("  {:<28} {:>12}  crc32c {}  {}\n", f.name, format_bytes(f.bytes), crc32c_hex(f.crc32c), status);
    files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", crc32c_hex(f.crc32c)}, {"status", status}, {"ok", ok}});
  }
  t += out.checksums_hold ? (verify ? fmt::format("checksums    all {} files hold\n", m.files.size())
                                    : std::string("checksums    not verified (sizes hold)\n"))
                          : std::string("checksums    FAILED: the checkpoint is damaged (see above)\n");
  out.text = t;
  out.report = {{"checkpoint", ckpt.dir().string()}, {"iteration", m.iteration}, {"release", release},
                {"format_version", m.version}, {"bytes", total}, {"files", files}, {"tensors", tensors},
                {"checksums_hold", out.checksums_hold}, {"verified", verify}};
  for (const char* k : {"layout", "model", "training", "source"})
    if (st.contains(k)) out.report[k] = st[k];
  return out;
}

}  // namespace primus::checkpoint
