#include "migrate/launch_command.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::migrate {

namespace {

// Launcher options that take no value; every other option takes one (as --opt value or --opt=value).
bool takes_no_value(const std::string& launcher, const std::string& option) {
  static const std::set<std::string> torchrun{"--standalone", "--no-python", "--no_python", "-m", "--module",
                                              "--run-path", "--run_path", "--master-addr-from-env"};
  static const std::set<std::string> deepspeed{"--no_python", "--no-python", "--module", "--no_local_rank",
                                               "--no-local-rank", "--force_multi", "--force-multi", "--save_pid",
                                               "--enable_each_rank_log", "--bind_cores_to_rank", "--no_ssh_check",
                                               "--no-ssh-check", "--elastic_training", "--ssh"};
  return launcher == "deepspeed" ? deepspeed.count(option) > 0 : torchrun.count(option) > 0;
}

std::string normalize(std::string option) {
  std::replace(option.begin(), option.end(), '-', '_');
  return option;
}

int64_t to_count(const std::string& text, const std::string& option, int64_t gpus) {
  if (text == "gpu" || text == "auto" || text == "cuda") return gpus;
  if (text == "cpu") return 1;
  // Elastic ranges "MIN:MAX": the run is laid out for MAX nodes.
  std::string n = text.substr(text.find(':') == std::string::npos ? 0 : text.find(':') + 1);
  try {
    size_t used = 0;
    long long v = std::stoll(n, &used);
    if (used == n.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  fail("launcher option {} {}: expected a positive process count", option, text);
}

}  // namespace

bool LaunchCommand::is_training() const {
  std::string base = training_script.substr(training_script.find_last_of('/') + 1);
  return base.find("train") != std::string::npos;
}

std::string LaunchCommand::describe() const {
  std::string text = launcher;
  for (const auto& a : launcher_args) text += " " + a;
  if (!training_script.empty()) text += " " + training_script;
  return fmt::format("{} ({} arguments)", text, training_args.size());
}

std::string LaunchCommand::describe_layout() const {
  const ProcessLayout& l = layout;
  std::string options;
  for (const auto& a : launcher_args) options += (options.empty() ? "" : " ") + a;
  std::string source = l.source == options || l.source.empty() ? "" : "; " + l.source;
  return fmt::format("{} process{} ({} node{} x {}{})", l.world_size(), l.world_size() == 1 ? "" : "es", l.nodes,
                     l.nodes == 1 ? "" : "s", l.processes_per_node, source);
}

void restate_layout(ProcessLayout& layout, int64_t nodes, int64_t world_size) {
  if (nodes <= 0 && world_size <= 0) return;
  const std::string before = fmt::format("{} node{} x {}", layout.nodes, layout.nodes == 1 ? "" : "s",
                                         layout.processes_per_node);
  std::string given;
  if (nodes > 0 && world_size > 0) {
    if (world_size % nodes != 0)
      fail("--world-size {} is not a multiple of --nnodes {}: give world size = nodes x processes per node",
           world_size, nodes);
    layout.nodes = nodes;
    layout.processes_per_node = world_size / nodes;
    given = fmt::format("--nnodes {} --world-size {}", nodes, world_size);
  } else if (nodes > 0) {
    layout.nodes = nodes;
    given = fmt::format("--nnodes {}", nodes);
  } else {
    if (layout.processes_per_node > 1 && world_size % layout.processes_per_node == 0) {
      layout.nodes = world_size / layout.processes_per_node;
    } else {
      layout.nodes = 1;
      layout.processes_per_node = world_size;
    }
    given = fmt::format("--world-size {}", world_size);
  }
  layout.source = fmt::format("{} given to migrate; the launch line says {}", given, before);
}

LaunchCommand parse_launch_command(const std::string& launcher, const std::vector<std::string>& argv, int64_t gpus,
                                   int64_t outer_processes) {
  LaunchCommand cmd;
  cmd.launcher = launcher;
  size_t i = 0;
  bool is_python = launcher == "python";
  bool per_node_given = false;
  if (!is_python) {
    while (i < argv.size() && argv[i].size() > 1 && argv[i][0] == '-') {
      std::string option = argv[i], value;
      bool has_value = false;
      if (auto eq = option.find('='); eq != std::string::npos) {
        value = option.substr(eq + 1);
        option = option.substr(0, eq);
        has_value = true;
      } else if (!takes_no_value(launcher, option) && i + 1 < argv.size()) {
        value = argv[i + 1];
        has_value = true;
        cmd.launcher_args.push_back(argv[i++]);
      }
      cmd.launcher_args.push_back(argv[i++]);
      if (!has_value) continue;
      std::string key = normalize(option);
      if (key == "__nproc_per_node" || key == "__num_gpus") {
        cmd.layout.processes_per_node = to_count(value, option, gpus);
        per_node_given = true;
      } else if (key == "__nnodes" || key == "__num_nodes") {
        cmd.layout.nodes = to_count(value, option, gpus);
      }
    }
  }
  if (i < argv.size()) cmd.training_script = argv[i++];
  cmd.training_args.assign(argv.begin() + std::ptrdiff_t(i), argv.end());

  std::string source;
  for (const auto& a : cmd.launcher_args) source += (source.empty() ? "" : " ") + a;
  if (launcher == "deepspeed" && !per_node_given) {
    cmd.layout.processes_per_node = gpus;  // deepspeed uses every GPU of the node by default
    source += fmt::format("{}(deepspeed default: all {} GPUs)", source.empty() ? "" : " ", gpus);
  }
  if (is_python) {
    // A plain `python pretrain_gpt.py`: one process, or as many as an enclosing mpirun/srun starts.
    cmd.layout.processes_per_node = outer_processes > 0 ? outer_processes : 1;
    source = outer_processes > 0 ? fmt::format("mpirun/srun with {} processes", outer_processes) : "a single process";
  }
  cmd.layout.source = source;
  return cmd;
}

LaunchCommand parse_pasted_command(const std::vector<std::string>& tokens, int64_t gpus) {
  if (tokens.empty() || tokens.front().starts_with("--")) {
    // Bare flags; torchrun's layout options pasted among them still describe the layout (no
    // Megatron argument is spelled like them).
    std::vector<std::string> launcher, training;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string name = normalize(tokens[i].substr(0, tokens[i].find('=')));
      bool layout = name == "__nproc_per_node" || name == "__nnodes" || name == "__node_rank" ||
                    name == "__master_addr" || name == "__master_port" || name.starts_with("__rdzv_");
      if (!layout) {
        training.push_back(tokens[i]);
        continue;
      }
      launcher.push_back(tokens[i]);
      if (tokens[i].find('=') == std::string::npos && i + 1 < tokens.size()) launcher.push_back(tokens[++i]);
    }
    if (!launcher.empty()) {
      std::vector<std::string> argv = launcher;
      argv.push_back("pretrain_gpt.py");
      argv.insert(argv.end(), training.begin(), training.end());
      return parse_launch_command("torchrun", argv, gpus, 0);
    }
    LaunchCommand cmd;
    cmd.launcher = "(flags)";
    cmd.training_args = tokens;
    cmd.layout.source = "no launcher given";
    return cmd;
  }
  std::string first = tokens.front().substr(tokens.front().find_last_of('/') + 1);
  std::vector<std::string> rest(tokens.begin() + 1, tokens.end());
  if (first == "torchrun" || first == "deepspeed") return parse_launch_command(first, rest, gpus, 0);
  if (first.starts_with("python")) {
    size_t i = 0;
    while (i < rest.size() && rest[i].starts_with("-") && rest[i] != "-m") ++i;  // -u, -O, ...
    if (i + 1 < rest.size() && rest[i] == "-m" &&
        (rest[i + 1] == "torch.distributed.run" || rest[i + 1] == "torch.distributed.launch"))
      return parse_launch_command("python -m " + rest[i + 1], {rest.begin() + std::ptrdiff_t(i) + 2, rest.end()},
                                  gpus, 0);
    return parse_launch_command("python", {rest.begin() + std::ptrdiff_t(i), rest.end()}, gpus, 0);
  }
  if (first.ends_with(".py")) return parse_launch_command("python", tokens, gpus, 0);
  fail("'{}' is neither a Megatron flag nor a launcher (torchrun, deepspeed, python ...); paste the flags "
       "that follow pretrain_gpt.py, or the whole launcher line",
       tokens.front());
}

}  // namespace primus::migrate
