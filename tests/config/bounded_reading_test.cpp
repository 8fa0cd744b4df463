// Bounded reading of configuration files: alias bombs, deep nesting, oversized files, long and
// non-UTF-8 values, and paths that are not files end in one short line naming the file — never
// a hang, a crash or a 10 MB message. Also what used to be silently accepted: an `overrides:`
// that is a list or a single value, an empty experiment.
#include <chrono>

#include <gtest/gtest.h>

#include "config/yaml_reader.hpp"
#include "config_test_support.hpp"

using namespace primus::config;
using namespace primus::config::testing;

namespace {

std::string billion_laughs() {
  std::string s = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (int i = 1; i <= 9; ++i) {
    std::string name = "l";
    name += std::to_string(i);  // (not "l" + ...: GCC 12 warns -Wrestrict on it, wrongly)
    s += name;
    s += ": &";
    s += name;
    s += " [";
    for (int k = 0; k < 10; ++k) {
      s += k ? ", *" : "*";
      s += prev;
    }
    s += "]\n";
    prev = name;
  }
  return s;  // 10^10 values once expanded
}

std::string nested_maps(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  return s + std::string(2 * depth, ' ') + "leaf: 1\n";
}

struct ReadCase {
  const char* name;
  std::string text;                   // the experiment file
  std::vector<std::string> cli;
  std::vector<std::string> expected;  // substrings of the message
  std::size_t max_message = 600;      // bytes
};

void PrintTo(const ReadCase& c, std::ostream* os) { *os << c.name; }

class ConfigBoundedReading : public ::testing::TestWithParam<ReadCase> {};

TEST_P(ConfigBoundedReading, OneShortLine) {
  const ReadCase& c = GetParam();
  ScratchDir dir;
  const auto file = dir.write("e.yaml", c.text);
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_of([&] { resolve_file(file, c.cli); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(message.empty()) << "no error for " << c.name;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LE(message.size(), c.max_message) << message.substr(0, 2000);
  for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
  EXPECT_LT(seconds, 10.0) << "reading took too long";
}

const std::string kTiny = "model: tiny_llama.yaml\noverrides:\n";

const ReadCase kCases[] = {
    {"billion_laughs", billion_laughs(), {}, {"e.yaml:", "expands to more than 100000 values (aliases nested in aliases?)"}},
    {"alias_bomb_in_overrides", kTiny + "  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" +
                                    "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
                                    "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
                                    "  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
                                    "  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
     {}, {"expands to more than 100000 values"}},
    {"deep_flow_nesting", "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n", {}, {"e.yaml:1:", "bad YAML"}},
    {"deep_block_nesting", nested_maps(40), {}, {"e.yaml:", "nested more than 32 levels deep"}},
    {"deep_list_nesting", "a: " + std::string(33, '[') + "1" + std::string(33, ']') + "\n", {},
     {"e.yaml:1", "nested more than 32 levels deep"}},
    {"huge_value", kTiny + "  lr: " + std::string(10 << 20, '9') + "x\n", {}, {"e.yaml:3", "lr expects a number", "bytes)"}},
    {"long_unknown_key", kTiny + "  " + std::string(1000, 'k') + ": 1\n", {},
     {"e.yaml:3", "unknown key 'kkkk", "… (1000 bytes)'"}},
    {"key_beyond_yaml_limit", kTiny + "  " + std::string(2000, 'k') + ": 1\n", {}, {"e.yaml:3:", "bad YAML"}},
    {"huge_command_line_value", kTiny + "  seed: 1\n", {"--lr", std::string(1 << 20, 'x')},
     {"command line (--lr)", "lr expects a number", "(1048576 bytes)"}},
    {"huge_unknown_flag", kTiny + "  seed: 1\n", {"--" + std::string(1 << 20, 'x'), "1"},
     {"command line: unknown argument", "bytes)"}},
    {"raw_non_utf8_bytes", kTiny + "  lr_decay_style: caf\xe9\n", {}, {"e.yaml:3", "got 'caf\\xE9'"}},
    {"control_characters_in_value", kTiny + "  lr_decay_style: \"a\\u0001b\\nc\"\n", {}, {"got 'a\\x01b\\nc'"}},
    {"overrides_as_a_list", "model: tiny_llama.yaml\noverrides:\n  - lr: 1.0e-4\n  - seed: 3\n", {},
     {"e.yaml:3", "overrides holds a list of mappings ('- key: value')", "without '-'"}},
    {"overrides_as_a_list_of_values", "model: tiny_llama.yaml\noverrides: [lr, seed]\n", {},
     {"e.yaml:2", "overrides must be a mapping of key: value lines", "got a list [lr, seed]"}},
    {"overrides_as_a_string", "model: tiny_llama.yaml\noverrides: lr=1e-4\n", {},
     {"e.yaml:2", "overrides must be a mapping of key: value lines", "got a single value lr=1e-4"}},
    {"full_form_overrides_as_a_list",
     "modules:\n  pre_trainer:\n    framework: megatron\n    model: tiny_llama.yaml\n    overrides:\n      - lr: 1\n", {},
     {"e.yaml:6", "modules.pre_trainer.overrides holds a list of mappings"}},
    {"empty_experiment", "", {}, {"e.yaml: the experiment file is empty", "model: tiny_llama.yaml"}},
    {"comments_only_experiment", "# nothing here yet\n", {}, {"the experiment file is empty"}},
    {"no_model_and_no_shape", "train_iters: 10\n", {}, {"num_layers is not set; give it in the model preset"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, ConfigBoundedReading, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigBoundedReading, UnsetKeysBlameNoDefaultsFile) {
  ScratchDir dir;
  const std::string message = error_of([&] { resolve_file(dir.write("e.yaml", "train_iters: 10\n")); });
  EXPECT_EQ(message.find("trainer_base.yaml"), std::string::npos) << message;
}

TEST(ConfigBoundedReading, OversizedFileIsRefusedBeforeParsing) {
  ScratchDir dir;
  std::string text = "model: tiny_llama.yaml\n# ";
  text += std::string(kMaxYamlFileBytes, 'x');
  const auto file = dir.write("big.yaml", text + "\n");
  const std::string message = error_of([&] { resolve_file(file); });
  EXPECT_NE(message.find("big.yaml: is 16.0 MiB, over the 16.0 MiB limit for the configuration file"), std::string::npos)
      << message;
}

struct PathCase {
  const char* name;
  std::string expected;
};

class ConfigExperimentPath : public ::testing::TestWithParam<PathCase> {};

// Paths that are not files: named as such (never "filesystem error"), for the experiment and for
// a model preset it names.
TEST_P(ConfigExperimentPath, NamesWhatThePathIs) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "folder.yaml");
  std::filesystem::create_symlink("loop_b.yaml", dir.path() / "loop_a.yaml");
  std::filesystem::create_symlink("loop_a.yaml", dir.path() / "loop_b.yaml");
  const std::string name = GetParam().name;
  std::string message;
  if (name.starts_with("preset_")) {
    const auto file = dir.write("e.yaml", "model: " + name.substr(7) + "\n");
    message = error_of([&] { resolve_file(file); });
  } else {
    message = error_of([&] { resolve_file(name == "device" ? "/dev/zero" : dir.path() / name); });
  }
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
  EXPECT_EQ(message.find("filesystem error"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Paths, ConfigExperimentPath,
                         ::testing::Values(PathCase{"folder.yaml", "folder.yaml: is a folder; the experiment file must be a file"},
                                           PathCase{"loop_a.yaml", "loop_a.yaml: loop of symbolic links; cannot reach the experiment file"},
                                           PathCase{"device", "/dev/zero: is a device; the experiment file must be a regular file"},
                                           PathCase{"preset_folder.yaml", "folder.yaml: is a folder; the configuration file must be a file"},
                                           PathCase{"preset_loop_a.yaml", "loop_a.yaml: loop of symbolic links"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& ch : n)
                             if (ch == '.') ch = '_';
                           return n;
                         });

}  // namespace
