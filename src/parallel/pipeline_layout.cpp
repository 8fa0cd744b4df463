#include "parallel/pipeline_layout.hpp"

#include <cctype>
#include <numeric>

#include "core/error.hpp"

namespace primus::parallel {

namespace {

// sequence := item*;  item := ( '(' sequence ')' | symbol ) ( '*' number )?
class LayoutParser {
 public:
  explicit LayoutParser(const std::string& text) : s_(text) {}
  std::string parse() {
    std::string out = sequence();
    if (i_ != s_.size()) error("unexpected ')'");
    return out;
  }

 private:
  std::string sequence() {
    std::string out;
    while (i_ < s_.size() && s_[i_] != ')') out += item();
    return out;
  }
  std::string item() {
    std::string unit;
    const char c = s_[i_];
    if (c == '(') {
      ++i_;
      unit = sequence();
      if (i_ >= s_.size() || s_[i_] != ')') error("missing ')'");
      ++i_;
    } else if (c == 'E' || c == 'L' || c == 't' || c == 'm' || c == '|') {
      unit = std::string(1, c);
      ++i_;
    } else if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      ++i_;
      return "";
    } else {
      error(fmt::format("unknown symbol '{}'", c));
    }
    if (i_ < s_.size() && s_[i_] == '*') {
      ++i_;
      std::size_t start = i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (start == i_) error("'*' without a count");
      const long n = std::stol(s_.substr(start, i_ - start));
      if (n < 0 || n > 100000) error("repeat count out of range");
      std::string rep;
      for (long k = 0; k < n; ++k) rep += unit;
      return rep;
    }
    return unit;
  }
  [[noreturn]] void error(const std::string& what) const {
    fail("pipeline_model_parallel_layout '{}': {} at position {}", s_, what, i_);
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

}  // namespace

std::vector<std::string> PipelineSplit::expand_layout(const std::string& layout) {
  const std::string flat = LayoutParser(layout).parse();
  std::vector<std::string> stages(1);
  for (char c : flat) {
    if (c == '|') stages.emplace_back();
    else stages.back() += c;
  }
  return stages;
}

PipelineSplitOptions PipelineSplitOptions::from_args(const config::Args& a) {
  PipelineSplitOptions o;
  o.num_layers = a.num_layers;
  o.pp = a.pipeline_model_parallel_size;
  if (a.num_virtual_stages_per_pipeline_rank) o.virtual_stages = *a.num_virtual_stages_per_pipeline_rank;
  o.first_stage_layers = a.decoder_first_pipeline_num_layers;
  o.last_stage_layers = a.decoder_last_pipeline_num_layers;
  o.account_for_embedding = a.account_for_embedding_in_pipeline_split;
  o.account_for_loss = a.account_for_loss_in_pipeline_split;
  if (a.decoder_pipeline_manual_split_list) o.manual_split = *a.decoder_pipeline_manual_split_list;
  if (a.pipeline_model_parallel_layout) o.layout = *a.pipeline_model_parallel_layout;
  o.mtp_layers = a.mtp_num_layers.value_or(0);
  return o;
}

PipelineSplit::PipelineSplit(const PipelineSplitOptions& o) : pp_(o.pp), vpp_(o.virtual_stages) {
  const std::int64_t L = o.num_layers, P = o.pp;
  if (P <= 0 || L <= 0) fail("internal: pipeline split of {} layers over {} stages", L, P);
  if (!o.layout.empty()) {
    const auto parts = expand_layout(o.layout);
    const auto n = static_cast<std::int64_t>(parts.size());
    if (n % P != 0)
      fail("pipeline_model_parallel_layout '{}' has {} stages, not a multiple of pipeline_model_parallel_size {}",
           o.layout, n, P);
    vpp_ = n / P;
    std::int64_t layer = 0, embeddings = 0, losses = 0, mtp = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      StageLayers s;
      s.first_layer = layer;
      for (char c : parts[static_cast<size_t>(i)]) {
        if (c == 't') {
          if (mtp) fail("pipeline_model_parallel_layout '{}': a decoder layer 't' after an MTP layer 'm'", o.layout);
          ++s.num_layers;
        } else if (c == 'E') {
          s.embedding = true;
          ++embeddings;
        } else if (c == 'L') {
          s.loss = true;
          ++losses;
        } else if (c == 'm') {
          ++s.mtp_layers;
          ++mtp;
        }
      }
      layer += s.num_layers;
      stages_.push_back(s);
    }
    if (embeddings != 1 || losses != 1 || !stages_.front().embedding || !stages_.back().loss)
      fail("pipeline_model_parallel_layout '{}' must start with 'E' and end with 'L', each once", o.layout);
    if (layer != L)
      fail("pipeline_model_parallel_layout '{}' holds {} decoder layers 't' but num_layers is {}", o.layout, layer, L);
    if (mtp != o.mtp_layers)
      fail("pipeline_model_parallel_layout '{}' holds {} MTP layers 'm' but mtp_num_layers is {}", o.layout, mtp,
           o.mtp_layers);
    std::int64_t holders = 0;
    for (const auto& s : stages_) holders += s.mtp_layers > 0 ? 1 : 0;
    if (holders > 1) fail("pipeline_model_parallel_layout '{}': all MTP layers must be in one stage", o.layout);
    return;
  }
  const std::int64_t V = vpp_;
  if (V <= 0) fail("internal: {} virtual stages", V);
  stages_.resize(static_cast<size_t>(P * V));
  auto at = [&](std::int64_t p, std::int64_t v) -> StageLayers& { return stages_[static_cast<size_t>(v * P + p)]; };
  if (!o.manual_split.empty()) {
    if (V != 1) fail("decoder_pipeline_manual_split_list cannot be combined with virtual pipeline stages");
    if (static_cast<std::int64_t>(o.manual_split.size()) != P ||
        std::accumulate(o.manual_split.begin(), o.manual_split.end(), std::int64_t{0}) != L)
      fail("decoder_pipeline_manual_split_list needs {} entries adding up to num_layers {}", P, L);
    std::int64_t layer = 0;
    for (std::int64_t p = 0; p < P; ++p) {
      if (o.manual_split[static_cast<size_t>(p)] < 0) fail("decoder_pipeline_manual_split_list: negative count");
      at(p, 0).first_layer = layer;
      at(p, 0).num_layers = o.manual_split[static_cast<size_t>(p)];
      layer += at(p, 0).num_layers;
    }
  } else if (o.first_stage_layers || o.last_stage_layers) {
    if (o.account_for_embedding || o.account_for_loss)
      fail("decoder_first/last_pipeline_num_layers cannot be combined with account_for_embedding/loss_in_pipeline_split");
    const std::int64_t F = o.first_stage_layers.value_or(0), La = o.last_stage_layers.value_or(0);
    const std::int64_t middle_stages = P - (o.first_stage_layers ? 1 : 0) - (o.last_stage_layers ? 1 : 0);
    const std::int64_t middle = L - F - La;
    if ((o.first_stage_layers && (F <= 0 || F % V)) || (o.last_stage_layers && (La <= 0 || La % V)))
      fail("decoder_first/last_pipeline_num_layers ({}/{}) must be positive and divisible by the {} virtual stages", F,
           La, V);
    if (middle < 0 || (middle_stages == 0) != (middle == 0) || (middle_stages > 0 && middle % (middle_stages * V)))
      fail("with num_layers {}, the {} layers left after decoder_first/last_pipeline_num_layers do not split evenly "
           "over the {} other stages × {} virtual stages",
           L, middle, middle_stages, V);
    const std::int64_t first_chunk = F / V, last_chunk = La / V;
    const std::int64_t middle_chunk = middle_stages ? middle / middle_stages / V : 0;
    const std::int64_t per_v = first_chunk + middle_chunk * middle_stages + last_chunk;
    for (std::int64_t v = 0; v < V; ++v)
      for (std::int64_t p = 0; p < P; ++p) {
        StageLayers& s = at(p, v);
        const bool first = p == 0 && o.first_stage_layers, last = p == P - 1 && o.last_stage_layers;
        s.num_layers = first ? first_chunk : last ? last_chunk : middle_chunk;
        const std::int64_t middle_rank = o.first_stage_layers ? p - 1 : p;
        s.first_layer = v * per_v + (p == 0 ? 0 : first_chunk + middle_rank * middle_chunk);
      }
  } else {
    const std::int64_t Lp = L + (o.account_for_embedding ? 1 : 0) + (o.account_for_loss ? 1 : 0);
    if (Lp % (P * V) != 0)
      fail("num_layers {}{} is not divisible by pipeline_model_parallel_size × virtual stages = {}", L,
           Lp != L ? fmt::format(" (+ {} for account_for_embedding/loss_in_pipeline_split)", Lp - L) : "", P * V);
    const std::int64_t per = Lp / (P * V);
    std::int64_t layer = 0;
    for (std::int64_t v = 0; v < V; ++v)
      for (std::int64_t p = 0; p < P; ++p) {
        StageLayers& s = at(p, v);
        s.num_layers = per - ((o.account_for_embedding && p == 0 && v == 0) ? 1 : 0) -
                       ((o.account_for_loss && p == P - 1 && v == V - 1) ? 1 : 0);
        if (s.num_layers < 0) fail("too few layers for account_for_embedding/loss_in_pipeline_split");
        s.first_layer = layer;
        layer += s.num_layers;
      }
  }
  at(0, 0).embedding = true;
  at(P - 1, V - 1).loss = true;
  at(P - 1, V - 1).mtp_layers = o.mtp_layers;
}

}  // namespace primus::parallel
