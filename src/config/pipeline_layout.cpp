#include "config/pipeline_layout.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"

namespace primus::config {

namespace {

constexpr size_t kMaxUnrolled = 1 << 20;

// "(ab|cd)*2" -> "ab|cdab|cd": Megatron unrolls innermost-free groups with a regex, once.
std::string unroll_groups(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '(') {
      size_t close = s.find(')', i + 1);
      size_t star = close == std::string::npos ? close : close + 1;
      if (close != std::string::npos && close > i + 1 && star < s.size() && s[star] == '*' && star + 1 < s.size() &&
          std::isdigit(static_cast<unsigned char>(s[star + 1]))) {
        size_t end = star + 1;
        while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        int64_t n = std::stoll(s.substr(star + 1, std::min<size_t>(end - star - 1, 9)));
        std::string body = s.substr(i + 1, close - i - 1);
        if (body.size() * size_t(n) + out.size() > kMaxUnrolled) fail("the layout unrolls to too many layers");
        for (int64_t k = 0; k < n; ++k) out += body;
        i = end;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// "t*3" -> "ttt".
std::string unroll_repeats(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 2 < s.size() && s[i + 1] == '*' && std::isdigit(static_cast<unsigned char>(s[i + 2]))) {
      size_t end = i + 2;
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      int64_t n = std::stoll(s.substr(i + 2, std::min<size_t>(end - i - 2, 9)));
      if (size_t(n) + out.size() > kMaxUnrolled) fail("the layout unrolls to too many layers");
      out.append(size_t(n), s[i]);
      i = end - 1;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

int64_t PipelineLayout::count(char layer) const {
  int64_t n = 0;
  for (const auto& s : stages) n += std::count(s.begin(), s.end(), layer);
  return n;
}

PipelineLayout parse_pipeline_layout(const std::string& text) {
  std::string s;
  for (char c : text)
    if (c != ',' && !std::isspace(static_cast<unsigned char>(c))) s += c;
  s = unroll_repeats(unroll_groups(s));
  PipelineLayout layout;
  layout.stages.emplace_back();
  for (char c : s) {
    if (c == '|') {
      layout.stages.emplace_back();
    } else if (c == 'E' || c == 'L' || c == 't' || c == 'm') {
      layout.stages.back() += c;
    } else {
      fail("invalid layer character '{}' in the layout; the layer characters are E (embedding), t (transformer "
           "layer), m (MTP layer) and L (loss), '|' ends a stage",
           std::string(1, c));
    }
  }
  return layout;
}

void check_pipeline_layout(const PipelineLayout& layout, int64_t pipeline_size, int64_t num_layers,
                           std::optional<int64_t> mtp_num_layers) {
  int64_t stages = int64_t(layout.stages.size());
  if (stages % pipeline_size != 0)
    fail("the layout has {} stages, not a multiple of pipeline_model_parallel_size {}", stages, pipeline_size);
  std::string flat;
  // Layer order: virtual stage by virtual stage, each over the pipeline ranks — the order in which
  // the stages are written.
  for (const auto& s : layout.stages) flat += s;
  if (flat.empty() || flat.front() != 'E') fail("the layout must start with the embedding (E)");
  if (flat.back() != 'L') fail("the layout must end with the loss (L)");
  if (layout.count('E') != 1 || layout.count('L') != 1) fail("the layout names the embedding and the loss once each");
  if (layout.count('t') != num_layers)
    fail("the layout places {} transformer layers (t), but num_layers is {}", layout.count('t'), num_layers);
  int64_t mtp = mtp_num_layers.value_or(0);
  if (layout.count('m') != mtp) fail("the layout places {} MTP layers (m), but mtp_num_layers is {}", layout.count('m'), mtp);
  size_t first_mtp = flat.find('m');
  if (first_mtp != std::string::npos && flat.find('t', first_mtp) != std::string::npos)
    fail("the layout places transformer layers after MTP layers");
}

}  // namespace primus::config
