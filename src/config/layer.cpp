#include "config/layer.hpp"

namespace primus::config {

void Layer::set(const std::string& key, Setting setting) {
  std::string prefix = key + ".";
  for (auto it = settings_.lower_bound(prefix); it != settings_.end() && it->first.starts_with(prefix);)
    it = settings_.erase(it);
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
    settings_.erase(key.substr(0, dot));
  settings_[key] = std::move(setting);
}

void Layer::merge_from(const Layer& later) {
  for (const auto& [key, setting] : later.settings_) set(key, setting);
}

const Setting* Layer::find(const std::string& key) const {
  auto it = settings_.find(key);
  return it == settings_.end() ? nullptr : &it->second;
}

}  // namespace primus::config
