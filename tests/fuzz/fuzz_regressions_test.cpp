// Every fuzz target over its seed corpus (tests/fuzz/corpus) and over every input a fuzzer ever
// found a problem with (tests/fuzz/regressions), in each test run: in the Release suite the
// readers must refuse garbage with a primus::Error, and in the sanitizer suite any out-of-bounds
// access or undefined behaviour they would commit fails the test.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checkpoint_metadata_target.hpp"
#include "config_resolve_target.hpp"
#include "idx_reader_target.hpp"
#include "npy_reader_target.hpp"
#include "safetensors_reader_target.hpp"
#include "tokenizer_json_target.hpp"
#include "torch_checkpoint_target.hpp"
#include "yaml_reader_target.hpp"

namespace {

namespace fs = std::filesystem;

using Target = void (*)(const std::uint8_t*, std::size_t);

struct TargetCase {
  const char* name;
  Target run;
};

std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> out;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(PRIMUS_SOURCE_DIR) / "tests/fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  }
  return out;
}

void PrintTo(const TargetCase& c, std::ostream* os) { *os << c.name; }

class FuzzRegressions : public ::testing::TestWithParam<TargetCase> {};

TEST_P(FuzzRegressions, EveryKnownInputIsHandled) {
  const auto inputs = inputs_of(GetParam().name);
  ASSERT_GE(inputs.size(), 4u) << "seed corpus of " << GetParam().name << " is missing";
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(path.string());
    // Anything but primus::Error escaping (caught inside the target) fails here.
    EXPECT_NO_THROW(GetParam().run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegressions,
                         ::testing::Values(TargetCase{"yaml_reader", primus::fuzz::yaml_reader},
                                           TargetCase{"config_resolve", primus::fuzz::config_resolve},
                                           TargetCase{"idx_reader", primus::fuzz::idx_reader},
                                           TargetCase{"tokenizer_json", primus::fuzz::tokenizer_json},
                                           TargetCase{"safetensors_reader", primus::fuzz::safetensors_reader},
                                           TargetCase{"npy_reader", primus::fuzz::npy_reader},
                                           TargetCase{"checkpoint_metadata", primus::fuzz::checkpoint_metadata},
                                           TargetCase{"torch_checkpoint", primus::fuzz::torch_checkpoint}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
