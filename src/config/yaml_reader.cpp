#include "config/yaml_reader.hpp"

#include <set>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "config/env_substitution.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/message_text.hpp"

namespace primus::config {

const YamlEntry* YamlFile::find(const std::string& key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

namespace {

// Aliases share nodes in yaml-cpp, so a small file can stand for billions of values ("billion
// laughs"); flattening expands them, so it counts what it produces and stops early.
struct Flattener {
  const std::string& file;
  std::vector<YamlEntry>& out;
  std::set<std::string> seen;
  std::size_t values = 0;

  std::string where(const YAML::Node& n) const { return fmt::format("{}:{}", file, n.Mark().line + 1); }

  void count(const YAML::Node& n, int depth) {
    if (++values > kMaxYamlValues)
      fail("{}: expands to more than {} values (aliases nested in aliases?); a configuration file holds fewer",
           where(n), kMaxYamlValues);
    if (depth > kMaxYamlDepth)
      fail("{}: nested more than {} levels deep; a configuration file nests far less", where(n), kMaxYamlDepth);
  }

  Value scalar(const YAML::Node& n, std::string* env) {
    std::string text = substitute_env(n.Scalar(), where(n), env);
    // Quoted scalars ("!" tag) stay text; plain scalars read as Primus reads them.
    if (n.Tag() == "!") return Value{text};
    return parse_plain_scalar(text);
  }

  Value sequence(const YAML::Node& n, const std::string& key, std::string* env, int depth) {
    Value::List items;
    for (const auto& item : n) {
      count(item, depth);
      if (item.IsScalar()) items.push_back(scalar(item, env));
      else if (item.IsSequence()) items.push_back(sequence(item, key, env, depth + 1));
      else if (item.IsNull()) items.emplace_back();
      else
        fail("{}: {} holds a list of mappings ('- key: value'); lists hold plain values only, and settings are "
             "key: value lines without '-'",
             where(item), printable(key));
    }
    return Value{items};
  }

  void walk(const YAML::Node& map, const std::string& prefix, int depth) {
    for (const auto& pair : map) {
      // Copies: yaml-cpp's iterator yields proxies to temporaries.
      const YAML::Node k = pair.first;
      const YAML::Node v = pair.second;
      count(k, depth);
      if (!k.IsScalar()) fail("{}: keys must be plain names", where(k));
      std::string key = prefix + substitute_env(k.Scalar(), where(k));
      if (key.size() > kMaxKeyBytes) fail("{}: key '{}' is too long", where(k), printable(key));
      if (!seen.insert(key).second) fail("{}: key '{}' appears twice in this file", where(k), printable(key));
      if (v.IsMap()) {
        if (v.size() == 0) out.push_back({key, Value{}, k.Mark().line + 1, {}});
        else walk(v, key + ".", depth + 1);
        continue;
      }
      YamlEntry e{key, Value{}, k.Mark().line + 1, {}};
      if (v.IsScalar()) e.value = scalar(v, &e.env_var);
      else if (v.IsSequence()) e.value = sequence(v, key, &e.env_var, depth + 1);
      out.push_back(std::move(e));
    }
  }
};

}  // namespace

YamlFile read_yaml_file(const std::filesystem::path& path) {
  YamlFile file{path, {}};
  const std::string text = read_input_file(path, "configuration file", kMaxYamlFileBytes);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    fail("{}:{}:{}: bad YAML: nested too deeply", path.string(), e.mark.line + 1, e.mark.column + 1);
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: bad YAML: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (root.IsNull()) return file;  // an empty file sets nothing
  if (!root.IsMap()) fail("{}: the top level must be a mapping of keys to values", path.string());
  std::string name = path.string();
  Flattener f{name, file.entries, {}};
  try {
    f.walk(root, "", 1);
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: bad YAML: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return file;
}

}  // namespace primus::config
