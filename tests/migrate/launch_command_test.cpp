// Launcher calls taken apart: launcher options become the process layout, the first non-option
// is the training script, the rest are the Megatron flags.
#include "migrate/launch_command.hpp"
#include "migrate_test_support.hpp"

namespace primus::migrate {
namespace {

using testing::error_of;

TEST(MigrateLaunchCommand, TorchrunOptionsAreTheLayoutNotModelFlags) {
  LaunchCommand c = parse_launch_command(
      "torchrun",
      {"--nproc_per_node", "8", "--nnodes", "2", "--node_rank", "0", "--master_addr", "10.0.0.1", "--master_port",
       "6000", "pretrain_gpt.py", "--num-layers", "32", "--bf16"},
      8, 0);
  EXPECT_EQ(c.layout.processes_per_node, 8);
  EXPECT_EQ(c.layout.nodes, 2);
  EXPECT_EQ(c.layout.world_size(), 16);
  EXPECT_EQ(c.training_script, "pretrain_gpt.py");
  EXPECT_EQ(c.training_args, (std::vector<std::string>{"--num-layers", "32", "--bf16"}));
  EXPECT_EQ(c.launcher_args.size(), 10u);
  EXPECT_TRUE(c.is_training());
}

TEST(MigrateLaunchCommand, EqualsFormHyphenSpellingsAndElasticRanges) {
  LaunchCommand c = parse_launch_command("torchrun",
                                         {"--nproc-per-node=4", "--nnodes=1:2", "--rdzv-backend=c10d",
                                          "--rdzv_endpoint", "host:29400", "--standalone", "/opt/Megatron-LM/pretrain_gpt.py",
                                          "--lr", "1e-4"},
                                         8, 0);
  EXPECT_EQ(c.layout.world_size(), 8);  // 4 per node, up to 2 nodes
  EXPECT_EQ(c.training_script, "/opt/Megatron-LM/pretrain_gpt.py");
  EXPECT_EQ(c.training_args, (std::vector<std::string>{"--lr", "1e-4"}));
}

TEST(MigrateLaunchCommand, NprocPerNodeGpuMeansTheGpuCount) {
  EXPECT_EQ(parse_launch_command("torchrun", {"--nproc_per_node", "gpu", "pretrain_gpt.py"}, 4, 0).layout.world_size(), 4);
  EXPECT_NE(error_of([] { parse_launch_command("torchrun", {"--nproc_per_node", "lots", "x.py"}, 4, 0); })
                .find("--nproc_per_node lots"),
            std::string::npos);
}

TEST(MigrateLaunchCommand, DeepspeedUsesEveryGpuUnlessTold) {
  EXPECT_EQ(parse_launch_command("deepspeed", {"--num_nodes", "2", "pretrain_gpt.py", "--bf16"}, 8, 0).layout.world_size(), 16);
  EXPECT_EQ(parse_launch_command("deepspeed", {"--num_gpus", "2", "pretrain_gpt.py"}, 8, 0).layout.world_size(), 2);
}

TEST(MigrateLaunchCommand, PlainPythonIsOneProcessOrWhatMpirunStarts) {
  EXPECT_EQ(parse_launch_command("python", {"pretrain_gpt.py", "--bf16"}, 8, 0).layout.world_size(), 1);
  LaunchCommand under_mpirun = parse_launch_command("python", {"pretrain_gpt.py", "--bf16"}, 8, 16);
  EXPECT_EQ(under_mpirun.layout.world_size(), 16);
  EXPECT_EQ(under_mpirun.training_args, (std::vector<std::string>{"--bf16"}));
}

TEST(MigrateLaunchCommand, PastedFlagsOrLauncherLines) {
  LaunchCommand flags = parse_pasted_command({"--num-layers", "2"}, 8);
  EXPECT_EQ(flags.layout.world_size(), 1);
  EXPECT_EQ(flags.training_args.size(), 2u);

  LaunchCommand mixed = parse_pasted_command({"--nproc_per_node", "8", "--num-layers", "2", "--nnodes=2"}, 8);
  EXPECT_EQ(mixed.layout.world_size(), 16);
  EXPECT_EQ(mixed.training_args, (std::vector<std::string>{"--num-layers", "2"}));

  LaunchCommand line = parse_pasted_command({"torchrun", "--nproc_per_node", "4", "pretrain_gpt.py", "--lr", "1"}, 8);
  EXPECT_EQ(line.layout.world_size(), 4);
  EXPECT_EQ(line.training_args, (std::vector<std::string>{"--lr", "1"}));

  LaunchCommand module = parse_pasted_command(
      {"/usr/bin/python3", "-u", "-m", "torch.distributed.run", "--nproc_per_node", "2", "pretrain_gpt.py", "--lr", "1"}, 8);
  EXPECT_EQ(module.launcher, "python -m torch.distributed.run");
  EXPECT_EQ(module.layout.world_size(), 2);

  EXPECT_EQ(parse_pasted_command({"pretrain_gpt.py", "--lr", "1"}, 8).training_args.size(), 2u);
  EXPECT_NE(error_of([] { parse_pasted_command({"bash", "train.sh"}, 8); }).find("neither a Megatron flag nor a launcher"),
            std::string::npos);
}

TEST(MigrateLaunchCommand, TheUserStatesTheLayoutOverTheLaunchLine) {
  auto eight = [] { return parse_pasted_command({"torchrun", "--nproc_per_node", "8", "pretrain_gpt.py"}, 8).layout; };
  ProcessLayout nodes = eight();
  restate_layout(nodes, 16, 0);
  EXPECT_EQ(nodes.world_size(), 128);
  EXPECT_EQ(nodes.processes_per_node, 8);
  EXPECT_EQ(nodes.source, "--nnodes 16 given to migrate; the launch line says 1 node x 8");
  ProcessLayout world = eight();
  restate_layout(world, 0, 128);
  EXPECT_EQ(world.nodes, 16);
  EXPECT_EQ(world.processes_per_node, 8);
  ProcessLayout odd = eight();
  restate_layout(odd, 0, 12);  // not a multiple of 8 per node: one node of 12
  EXPECT_EQ(odd.nodes, 1);
  EXPECT_EQ(odd.processes_per_node, 12);
  ProcessLayout both = eight();
  restate_layout(both, 4, 16);
  EXPECT_EQ(both.processes_per_node, 4);
  EXPECT_EQ(both.source, "--nnodes 4 --world-size 16 given to migrate; the launch line says 1 node x 8");
  ProcessLayout unchanged = eight();
  restate_layout(unchanged, 0, 0);
  EXPECT_EQ(unchanged.world_size(), 8);
  ProcessLayout bad = eight();
  EXPECT_NE(error_of([&] { restate_layout(bad, 3, 16); }).find("--world-size 16 is not a multiple of --nnodes 3"),
            std::string::npos);
}

}  // namespace
}  // namespace primus::migrate
