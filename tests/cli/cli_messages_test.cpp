// The `primus` command line given wrong commands, numbers and options: each gets one line in our
// words ("--world-size must be a positive integer, got 'abc'"), naming the option or the command
// and what is expected, and exit status 2 — never CLI11's "Value 0 not in range 0.000000 to
// 17976931348623157…" or "A subcommand is required".
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace {

struct Result {
  int status;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(PRIMUS_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string kTiny = std::string(PRIMUS_SOURCE_DIR) + "/examples/megatron/configs/tiny_llama-pretrain.yaml";
const std::string kScript = std::string(PRIMUS_SOURCE_DIR) + "/tests/migrate/scripts/case_style.sh";

struct MessageCase {
  const char* name;
  std::string args;
  std::string expected;  // the whole line after "primus: error: "
};

void PrintTo(const MessageCase& c, std::ostream* os) { *os << c.name; }

class CliMessages : public ::testing::TestWithParam<MessageCase> {};

TEST_P(CliMessages, OneLineInOurWords) {
  const MessageCase& c = GetParam();
  const Result r = run(c.args);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(r.out, "primus: error: " + c.expected + "\n");
}

const MessageCase kCases[] = {
    {"no_command", "", "'primus' needs a command: config, train, migrate, data, parallel, checkpoint or generate (see primus --help)"},
    {"unknown_command", "trian pretrain", "unknown command 'trian' for 'primus' (its commands: config, train, migrate, data, parallel, checkpoint or generate); did you mean 'train'?"},
    {"unknown_subcommand", "config shwo --config x.yaml", "unknown command 'shwo' for 'primus config' (its commands: show); did you mean 'show'?"},
    {"missing_subcommand", "migrate", "'primus migrate' needs a command: megatron-lm or megatron-args (see primus migrate --help)"},
    {"world_size_not_a_number", "config show --config " + kTiny + " --world-size abc", "--world-size must be a positive integer, got 'abc'"},
    {"world_size_zero", "config show --config " + kTiny + " --world-size 0", "--world-size must be a positive integer, got '0'"},
    {"world_size_negative", "config show --config " + kTiny + " --world-size -4", "--world-size must be a positive integer, got '-4'"},
    {"world_size_fraction", "config show --config " + kTiny + " --world-size 2.5", "--world-size must be a positive integer, got '2.5'"},
    {"world_size_beyond_int64", "config show --config " + kTiny + " --world-size 99999999999999999999",
     "--world-size 99999999999999999999 is too large (at most 16777216)"},
    {"world_size_too_large", "config show --config " + kTiny + " --world-size 100000000",
     "--world-size 100000000 is too large (at most 16777216)"},
    {"format_unknown", "config show --config " + kTiny + " --format xml", "--format: must be yaml or json, got 'xml' (see --help)"},
    {"config_missing", "config show", "--config is required (see --help)"},
    {"timeout_nan", "migrate megatron-lm " + kScript + " --output /tmp/x --timeout nan",
     "--timeout must be a finite positive number of seconds, got 'nan'"},
    {"timeout_inf", "migrate megatron-lm " + kScript + " --output /tmp/x --timeout inf",
     "--timeout must be a finite positive number of seconds, got 'inf'"},
    {"timeout_negative", "migrate megatron-lm " + kScript + " --output /tmp/x --timeout -1",
     "--timeout must be a finite positive number of seconds, got '-1'"},
    {"timeout_words", "migrate megatron-lm " + kScript + " --output /tmp/x --timeout soon",
     "--timeout must be a finite positive number of seconds, got 'soon'"},
    {"timeout_too_long", "migrate megatron-lm " + kScript + " --output /tmp/x --timeout 1e9",
     "--timeout 1e9 is too long (at most 604800 seconds)"},
    {"gpus_zero", "migrate megatron-lm " + kScript + " --output /tmp/x --gpus 0", "--gpus must be a positive integer, got '0'"},
    {"launch_zero", "migrate megatron-lm " + kScript + " --output /tmp/x --launch 0", "--launch must be a positive integer, got '0'"},
    {"output_is_a_file", "migrate megatron-lm " + kScript + " --output " + kScript,
     kScript + ": --output names a file; give a folder (created when missing)"},
    {"workers_too_many", "data preprocess --input a --output-prefix b --tokenizer-type NullTokenizer --workers 100000",
     "--workers 100000 is too large (at most 1024)"},
    {"unexpected_argument", "data preprocess --input a --output-prefix b --tokenizer-type NullTokenizer extra",
     "unexpected argument(s) extra (see --help)"},
};

INSTANTIATE_TEST_SUITE_P(Cases, CliMessages, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// `config show` refuses what `train` would refuse, with the same line: one validation for both.
class CliShowAndTrainAgree : public ::testing::TestWithParam<std::pair<const char*, std::string>> {};

TEST_P(CliShowAndTrainAgree, SameRefusal) {
  const std::string overrides = GetParam().second;
  const Result show = run("config show --config " + kTiny + " " + overrides);
  const Result train = run("train pretrain --config " + kTiny + " " + overrides);
  EXPECT_EQ(show.status, 2) << show.out;
  EXPECT_EQ(train.status, 2) << train.out;
  const auto last_line = [](const std::string& out) {
    const auto end = out.find_last_not_of('\n');
    const auto start = out.rfind('\n', end);
    return out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
  };
  EXPECT_TRUE(last_line(show.out).starts_with("primus: error: ")) << show.out;
  EXPECT_EQ(last_line(show.out), last_line(train.out));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliShowAndTrainAgree,
    ::testing::Values(std::pair{"eval_interval_zero", std::string("--eval_interval 0 --eval_iters 1")},
                      std::pair{"lr_nan", std::string("--lr .nan")},
                      std::pair{"init_method_std_negative", std::string("--init-method-std=-0.02")},
                      std::pair{"adam_beta1", std::string("--adam-beta1 1.5")},
                      std::pair{"adam_eps", std::string("--adam-eps=-1")},
                      std::pair{"rotary_base_zero", std::string("--rotary-base 0")},
                      std::pair{"norm_epsilon_negative", std::string("--norm-epsilon=-1")},
                      std::pair{"warmup_longer_than_training", std::string("--train-iters 3")},
                      std::pair{"megatron_args", std::string("--megatron-args --adam-beta2 1.0")}),
    [](const auto& info) { return std::string(info.param.first); });

TEST(CliMessages, HelpAndVersionStillWork) {
  EXPECT_EQ(run("--version").status, 0);
  EXPECT_EQ(run("config --help").status, 0);
  EXPECT_EQ(run("config show --help").status, 0);
}

}  // namespace
