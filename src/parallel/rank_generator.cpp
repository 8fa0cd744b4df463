#include "parallel/rank_generator.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace primus::parallel {

namespace {

std::vector<std::string> split_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t dash = text.find('-', start);
    const std::size_t end = dash == std::string_view::npos ? text.size() : dash;
    out.emplace_back(text.substr(start, end - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  return out;
}

// Mixed-radix digits of `index` over `shape` (first digit fastest).
std::vector<int> decompose(int index, const std::vector<int>& shape) {
  std::vector<int> digits(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    digits[i] = index % shape[i];
    index /= shape[i];
  }
  return digits;
}

}  // namespace

RankGroups masked_orthogonal_rank_groups(int world_size, const std::vector<int>& sizes, const std::vector<bool>& mask) {
  std::vector<int> stride(sizes.size());
  int s = 1;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    stride[i] = s;
    s *= sizes[i];
  }
  if (s != world_size) fail("internal: parallel sizes multiply to {}, world size is {}", s, world_size);
  std::vector<int> masked_shape, masked_stride, fixed_shape, fixed_stride;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    (mask[i] ? masked_shape : fixed_shape).push_back(sizes[i]);
    (mask[i] ? masked_stride : fixed_stride).push_back(stride[i]);
  }
  int group_size = 1;
  for (int v : masked_shape) group_size *= v;
  const int num_groups = world_size / group_size;
  RankGroups groups(static_cast<std::size_t>(num_groups));
  for (int g = 0; g < num_groups; ++g) {
    const std::vector<int> fixed = decompose(g, fixed_shape);
    int base = 0;
    for (std::size_t i = 0; i < fixed.size(); ++i) base += fixed[i] * fixed_stride[i];
    auto& ranks = groups[static_cast<std::size_t>(g)];
    ranks.reserve(static_cast<std::size_t>(group_size));
    for (int r = 0; r < group_size; ++r) {
      const std::vector<int> varying = decompose(r, masked_shape);
      int rank = base;
      for (std::size_t i = 0; i < varying.size(); ++i) rank += varying[i] * masked_stride[i];
      ranks.push_back(rank);
    }
  }
  return groups;
}

RankGenerator::RankGenerator(int tp, int ep, int dp, int pp, int cp, std::string_view order) : order_(order) {
  const std::pair<const char*, int> named[] = {{"tp", tp}, {"pp", pp}, {"dp", dp}, {"ep", ep}, {"cp", cp}};
  axes_ = split_tokens(order);
  for (const auto& axis : axes_) {
    auto it = std::find_if(std::begin(named), std::end(named), [&](const auto& n) { return axis == n.first; });
    if (it == std::end(named)) fail("parallel order '{}': unknown axis '{}' (expected tp, cp, ep, dp, pp)", order, axis);
    if (std::count(axes_.begin(), axes_.end(), axis) > 1) fail("parallel order '{}': axis '{}' appears twice", order, axis);
  }
  for (const auto& [name, size] : named) {
    if (size < 1) fail("internal: parallel size {} = {}", name, size);
    if (std::find(axes_.begin(), axes_.end(), name) != axes_.end()) continue;
    if (size != 1) fail("parallel order '{}' does not name '{}', whose size is {}", order, name, size);
    axes_.emplace_back(name);
    order_ += std::string("-") + name;
  }
  for (const auto& axis : axes_) {
    const auto* it = std::find_if(std::begin(named), std::end(named), [&](const auto& n) { return axis == n.first; });
    sizes_.push_back(it->second);
    world_ *= it->second;
  }
}

RankGroups RankGenerator::get_ranks(std::string_view token) const {
  std::vector<bool> mask(axes_.size(), false);
  for (const std::string& t : split_tokens(token)) {
    auto it = std::find(axes_.begin(), axes_.end(), t);
    if (it == axes_.end()) fail("internal: group token '{}' names an axis not in '{}'", token, order_);
    mask[static_cast<std::size_t>(it - axes_.begin())] = true;
  }
  return masked_orthogonal_rank_groups(world_, sizes_, mask);
}

}  // namespace primus::parallel
