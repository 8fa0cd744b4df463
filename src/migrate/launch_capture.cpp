#include "migrate/launch_capture.hpp"

#include <unistd.h>

#include <cstring>

#include <cctype>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/message_text.hpp"
#include "io/atomic_file.hpp"
#include "migrate/fake_tools.hpp"
#include "migrate/scratch_dir.hpp"
#include "migrate/script_runner.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace primus::migrate {

namespace {

constexpr uintmax_t kMaxCopiedFile = 8u << 20;
constexpr std::uint64_t kMaxScriptOutput = 16u << 20;

// Variables a real launch sets per node and process: taken from the user's shell they would
// silently change the layout the script computes. Pass them as KEY=VALUE to mean them.
bool is_launcher_variable(const std::string& name) {
  static const char* exact[] = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "NNODES",
                                "MASTER_ADDR", "MASTER_PORT", "GPUS_PER_NODE", "CUDA_VISIBLE_DEVICES",
                                "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "PATH", "HOME", "TMPDIR", "PWD",
                                "OLDPWD", "BASH_ENV", "ENV"};
  for (const char* e : exact)
    if (name == e) return true;
  return name.starts_with("SLURM_") || name.starts_with("OMPI_") || name.starts_with("PMI_") ||
         name.starts_with("PMIX_") || name.starts_with("PRIMUS_MIGRATE_");
}

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '_')) return false;
  return true;
}

void check_is_shell_script(const fs::path& script) {
  std::ifstream in(script);
  std::string first;
  std::getline(in, first);
  if (!first.starts_with("#!")) return;
  if (first.find("sh") != std::string::npos && first.find("python") == std::string::npos) return;
  fail("{}: starts with '{}', not a bash script; give the shell script that calls the launcher", script.string(),
       first);
}

// The script's folder, top level only, so `source ./env.sh` and `$(dirname $0)/common.sh` work
// while the script's mkdir/tee/rm act on the copy.
fs::path copy_script_folder(const fs::path& script, const fs::path& work) {
  fs::create_directories(work);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(script.parent_path().empty() ? "." : script.parent_path(), ec)) {
    std::error_code e2;
    if (!entry.is_regular_file(e2) || entry.file_size(e2) > kMaxCopiedFile) continue;
    fs::copy_file(entry.path(), work / entry.path().filename(), fs::copy_options::overwrite_existing, e2);
  }
  // The script itself as bash reads it: a file saved with Windows line ends would fail on every line.
  fs::path copy = work / script.filename();
  const std::string text = read_input_file(script, "launch script", kMaxCopiedFile);
  std::string unix_text;
  for (size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) unix_text += text[i];
  io::write_file_atomically(copy, unix_text, false);
  return copy;
}

std::vector<std::string> sandbox_environment(const fs::path& scratch, const fs::path& bin, const CaptureOptions& o) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq);
    if (!is_launcher_variable(name)) env[name] = entry.substr(eq + 1);
  }
  const char* path = std::getenv("PATH");
  env["PATH"] = bin.string() + ":" + (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  env["HOME"] = (scratch / "home").string();
  env["TMPDIR"] = (scratch / "tmp").string();
  env[kSandboxVar] = scratch.string();
  env[kGpusVar] = std::to_string(o.gpus);
  // Launchers as exported functions too, so a script that puts another folder first on PATH
  // (conda, a venv) still reaches the stand-ins.
  for (const char* name : {"torchrun", "python", "python3", "deepspeed"})
    env[fmt::format("BASH_FUNC_{}%%", name)] = fmt::format("() {{  \"{}\" \"$@\"\n}}", (bin / name).string());
  for (const auto& arg : o.script_args) {
    auto eq = arg.find('=');
    if (eq != std::string::npos && is_identifier(arg.substr(0, eq))) env[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// "exited with code 2", or "was ended by SIGTERM (exit code 143)" for bash's 128 + signal.
std::string how_it_ended(int code) {
  if (code > 128 && code <= 128 + 64)
    if (const char* name = ::sigabbrev_np(code - 128))
      return fmt::format("was ended by SIG{} (exit code {})", name, code);
  return fmt::format("exited with code {}", code);
}

std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += " | ";
    else if (c != '\r') out += c;
  }
  if (out.empty()) return "(no output)";
  // The end is what tells why the script stopped.
  constexpr std::size_t kKeep = 600;
  if (out.size() > kKeep) {
    std::size_t from = out.size() - kKeep;
    while (from < out.size() && (static_cast<unsigned char>(out[from]) & 0xC0) == 0x80) ++from;
    out = "…" + out.substr(from);
  }
  return printable(out, kKeep + 16);
}

}  // namespace

CaptureResult capture_launch(const CaptureOptions& options) {
  const fs::path& script = options.script;
  check_input_file(script, "launch script");
  check_is_shell_script(script);

  ScratchDir scratch;
  if (options.keep_scratch) scratch.keep();
  fs::path bin = scratch.path() / "bin", work = scratch.path() / "work";
  install_fake_tools(bin);
  for (const char* dir : {"captures", "home", "tmp"}) fs::create_directories(scratch.path() / dir);
  fs::path copy = copy_script_folder(script, work);

  ScriptRunRequest run;
  run.script = copy;
  run.display_name = script.string();
  run.args = options.script_args;
  run.environment = sandbox_environment(scratch.path(), bin, options);
  run.working_dir = work;
  run.output_log = scratch.path() / "script-output.log";
  run.timeout_s = options.timeout_s;
  run.max_output_bytes = kMaxScriptOutput;
  ScriptRunResult ran = run_script(run);

  CaptureResult result;
  result.script_exit_code = ran.exit_code;
  result.script_output_tail = ran.output_tail;
  if (options.keep_scratch) result.scratch = scratch.path();
  for (const auto& call : read_recorded_calls(scratch.path() / "captures"))
    result.launches.push_back(parse_launch_command(call.launcher, call.argv, options.gpus, call.outer_processes));

  std::vector<const LaunchCommand*> training;
  for (const auto& l : result.launches)
    if (l.is_training()) training.push_back(&l);
  if (ran.parent_killed_by != 0)
    fail("{}: the script killed the process running it (signal {}); it was stopped with everything it started. "
         "A launch script must not signal its parent ($PPID)",
         script.string(), ran.parent_killed_by);
  if (ran.output_capped)
    fail("{}: the script wrote more than {} of output and was stopped (a launch script prints little: is something "
         "printing in a loop?); last output: {}",
         script.string(), format_bytes(kMaxScriptOutput), one_line(ran.output_tail));
  if (training.empty()) {
    std::string launched;
    for (const auto& l : result.launches) launched += (launched.empty() ? "" : "; ") + l.describe();
    if (!launched.empty())
      fail("{}: the script launched {} but no training script (pretrain_gpt.py)", script.string(), launched);
    if (ran.timed_out)
      fail("{}: did not reach a launcher within {} s (raise --timeout, or check that it does not wait for a "
           "service or for input); last output: {}",
           script.string(), options.timeout_s, one_line(ran.output_tail));
    std::string hint = ran.output_tail.find("No such file or directory") != std::string::npos
                           ? " (the dry run works in a copy of the script's folder: files elsewhere must be named by "
                             "absolute path, e.g. as KEY=VALUE)"
                           : "";
    fail("{}: the script {} before reaching a launcher (torchrun, deepspeed, python -m "
         "torch.distributed.run, python pretrain_gpt.py); give the KEY=VALUE settings it needs{}. Last output: {}",
         script.string(), how_it_ended(ran.exit_code), hint, one_line(ran.output_tail));
  }
  if (options.launch_index < 1 || options.launch_index > training.size())
    fail("{}: --launch {} asked for, but the script makes {} training launch(es)", script.string(),
         options.launch_index, training.size());
  result.launch = *training[options.launch_index - 1];
  return result;
}

}  // namespace primus::migrate
