// Layer ranges of every (pipeline rank, virtual stage) against Megatron's rules, computed here
// independently (TransformerBlock's layer counts and TransformerLayer's offsets), and the layout
// strings of pipeline_model_parallel_layout.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "parallel/pipeline_layout.hpp"

using namespace primus;
using namespace primus::parallel;

namespace {

std::string ranges(const PipelineSplit& s) {
  std::string out;
  for (std::int64_t v = 0; v < s.virtual_stages(); ++v)
    for (std::int64_t p = 0; p < s.pp(); ++p) {
      const auto& st = s.stage(p, v);
      out += fmt::format("{}{}+{}{}{} ", st.embedding ? "E" : "", st.first_layer, st.num_layers, st.loss ? "L" : "",
                         st.mtp_layers ? fmt::format("m{}", st.mtp_layers) : "");
    }
  return out;
}

PipelineSplitOptions opts(std::int64_t L, std::int64_t pp, std::int64_t V = 1) {
  PipelineSplitOptions o;
  o.num_layers = L;
  o.pp = pp;
  o.virtual_stages = V;
  return o;
}

TEST(PipelineLayout, EvenSplitIsVirtualMajor) {
  EXPECT_EQ(ranges(PipelineSplit(opts(8, 4))), "E0+2 2+2 4+2 6+2L ");
  // Megatron: offset = v·(L/V) + p·(L/(pp·V)).
  EXPECT_EQ(ranges(PipelineSplit(opts(8, 2, 2))), "E0+2 2+2 4+2 6+2L ");
  PipelineSplit s(opts(16, 2, 4));
  for (std::int64_t v = 0; v < 4; ++v)
    for (std::int64_t p = 0; p < 2; ++p) EXPECT_EQ(s.stage(p, v).first_layer, v * (16 / 4) + p * (16 / 8));
}

TEST(PipelineLayout, UnevenFirstAndLast) {
  auto o = opts(10, 4);
  o.first_stage_layers = 1;
  o.last_stage_layers = 3;
  EXPECT_EQ(ranges(PipelineSplit(o)), "E0+1 1+3 4+3 7+3L ");
  o.last_stage_layers.reset();  // the last rank shares the middle: (10 - 1) / 3 each
  EXPECT_EQ(ranges(PipelineSplit(o)), "E0+1 1+3 4+3 7+3L ");
  // With virtual stages: per chunk F/V, middle/(middle stages)/V, La/V; chunk v starts at v·(total/V).
  auto w = opts(12, 3, 2);
  w.first_stage_layers = 2;
  w.last_stage_layers = 2;
  EXPECT_EQ(ranges(PipelineSplit(w)), "E0+1 1+4 5+1 6+1 7+4 11+1L ");
  w.first_stage_layers = 3;  // not divisible by V
  EXPECT_THROW(PipelineSplit{w}, Error);
  auto bad = opts(10, 4);
  bad.first_stage_layers = 2;
  bad.last_stage_layers = 2;  // 6 over 2 is fine; 7 over 2 is not
  EXPECT_NO_THROW(PipelineSplit{bad});
  bad.num_layers = 11;
  EXPECT_THROW(PipelineSplit{bad}, Error);
}

TEST(PipelineLayout, AccountForEmbeddingAndLoss) {
  auto o = opts(6, 4);
  o.account_for_embedding = true;
  o.account_for_loss = true;  // L' = 8: 2 per stage, first and last build one fewer
  EXPECT_EQ(ranges(PipelineSplit(o)), "E0+1 1+2 3+2 5+1L ");
  o.account_for_loss = false;  // L' = 7: not divisible by 4
  EXPECT_THROW(PipelineSplit{o}, Error);
}

TEST(PipelineLayout, ManualSplitAndMtp) {
  auto o = opts(10, 3);
  o.manual_split = {2, 5, 3};
  o.mtp_layers = 1;
  EXPECT_EQ(ranges(PipelineSplit(o)), "E0+2 2+5 7+3Lm1 ");
  o.manual_split = {2, 5, 2};
  EXPECT_THROW(PipelineSplit{o}, Error);
}

TEST(PipelineLayout, LayoutStrings) {
  EXPECT_EQ(PipelineSplit::expand_layout("Et*3|(tt|)*2,m|L"),
            (std::vector<std::string>{"Ettt", "tt", "tt", "m", "L"}));
  auto o = opts(7, 2);
  o.layout = "Et*3|(tt|)*2L";  // 4 stages on 2 ranks: 2 virtual stages
  PipelineSplit s(o);
  EXPECT_EQ(s.virtual_stages(), 2);
  EXPECT_EQ(ranges(s), "E0+3 3+2 5+2 7+0L ");
  o.layout = "Et*3|(tt|)*2Lt";  // 8 decoder layers for num_layers 7
  EXPECT_THROW(PipelineSplit{o}, Error);
  o.layout = "tE*3|(tt|)*2L";
  EXPECT_THROW(PipelineSplit{o}, Error);
  o.layout = "Et*3|(tt|*2L";
  EXPECT_THROW(PipelineSplit{o}, Error);
  o.layout = "Etttt|tttmL";
  o.mtp_layers = 1;
  EXPECT_EQ(ranges(PipelineSplit(o)), "E0+4 4+3Lm1 ");
}

}  // namespace
