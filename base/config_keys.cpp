#include "base/config_keys.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace archway {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

Error KeyError(const std::string& key, const std::string& problem) {
  return Invalid("config key \"" + key + "\": " + problem);
}

const ConfigKey* FindKey(const std::vector<ConfigKey>& keys, std::string_view name) {
  auto it = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& key) { return key.name == name; });
  return it == keys.end() ? nullptr : &*it;
}

// The members of the map at `prefix` ("tls" -> "certFile, keyFile"), "" when it is none.
std::string MembersOf(const std::vector<ConfigKey>& keys, const std::string& prefix) {
  std::vector<std::string> members;
  for (const auto& key : keys) {
    if (key.name.size() <= prefix.size() + 1 || !key.name.starts_with(prefix) || key.name[prefix.size()] != '.') {
      continue;
    }
    const std::string rest = key.name.substr(prefix.size() + 1);
    std::string member = rest.substr(0, rest.find('.'));
    if (std::find(members.begin(), members.end(), member) == members.end()) members.push_back(std::move(member));
  }
  std::string joined;
  for (const auto& member : members) joined += (joined.empty() ? "" : ", ") + member;
  return joined;
}

Status Set(const ConfigKey& key, const YAML::Node& value) {
  if (value.IsNull()) {
    if (key.set_null) key.set_null();
    return Status::Ok();
  }
  if (key.set_list) {
    if (!value.IsSequence()) return KeyError(key.name, "expected a list");
    std::vector<std::string> items;
    for (const auto& item : value) {
      if (!item.IsScalar()) return KeyError(key.name, "expected a list of single values");
      items.push_back(item.Scalar());
    }
    Status s = key.set_list(std::move(items));
    return s.ok() ? s : KeyError(key.name, s.error().message);
  }
  if (!value.IsScalar()) return KeyError(key.name, "expected a single value");
  Status s = key.set(value.Scalar());
  return s.ok() ? s : KeyError(key.name, s.error().message);
}

Status Walk(const YAML::Node& map, const std::string& prefix, const std::vector<ConfigKey>& keys) {
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) return Invalid("config: a key is not a single value");
    const std::string name = prefix.empty() ? entry.first.Scalar() : prefix + "." + entry.first.Scalar();
    const YAML::Node& value = entry.second;
    const std::string members = MembersOf(keys, name);
    if (const ConfigKey* key = FindKey(keys, name); key && !(value.IsMap() && !members.empty())) {
      if (Status s = Set(*key, value); !s.ok()) return s;
      continue;
    }
    if (members.empty()) return Invalid("config: unknown key \"" + name + "\"");
    if (value.IsNull()) continue;  // "tls:" with nothing: every member keeps its default
    if (!value.IsMap()) return KeyError(name, "expected a mapping (" + members + ")");
    if (Status s = Walk(value, name, keys); !s.ok()) return s;
  }
  return Status::Ok();
}

// "tls.certFile", "tls-cert-file", "TLS_CERTFILE" -> "tlscertfile".
std::string FlagForm(std::string_view name) {
  std::string form;
  form.reserve(name.size());
  for (char c : name) {
    if (c != '-' && c != '.' && c != '_') form.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return form;
}

const ConfigKey* FindFlag(const std::vector<ConfigKey>& keys, std::string_view flag) {
  const std::string wanted = FlagForm(flag);
  for (const auto& key : keys) {
    if (FlagForm(key.name) == wanted) return &key;
    for (const auto& alias : key.flag_aliases) {
      if (FlagForm(alias) == wanted) return &key;
    }
  }
  return nullptr;
}

Status SetFromFlag(const ConfigKey& key, const std::string& value) {
  if (!key.set_list) return key.set(value);
  std::vector<std::string> items;
  std::stringstream stream(value);
  for (std::string item; std::getline(stream, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return key.set_list(std::move(items));
}

}  // namespace

Status ApplyConfigYaml(std::string_view yaml_text, const std::vector<ConfigKey>& keys) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Invalid(std::string("config: not valid YAML: ") + e.what());
  }
  if (root.IsNull()) return Status::Ok();  // an empty file: every default
  if (!root.IsMap()) return Invalid("config: expected a mapping at the top level");
  try {
    return Walk(root, "", keys);
  } catch (const YAML::Exception& e) {
    return Invalid(std::string("config: ") + e.what());
  }
}

Status ApplyConfigFlags(const std::vector<std::string>& args, const std::vector<ConfigKey>& keys) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (!flag.starts_with("--")) return Invalid("unexpected argument \"" + flag + "\"");
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else {
      if (i + 1 >= args.size()) return Invalid(flag + ": missing value");
      value = args[++i];
    }
    if (flag == "--config") continue;  // read by the caller before the flags are applied
    const ConfigKey* key = FindFlag(keys, std::string_view(flag).substr(2));
    if (key == nullptr) return Invalid("unknown flag " + flag + " (see --help)");
    if (Status s = SetFromFlag(*key, value); !s.ok()) return s.error().Wrap(flag);
  }
  return Status::Ok();
}

Result<std::string> ConfigText(const std::string& value) { return value; }

Result<bool> ParseConfigBool(const std::string& value) {
  if (value == "true" || value == "True" || value == "1") return true;
  if (value == "false" || value == "False" || value == "0") return false;
  return Invalid("expected true or false, got \"" + value + "\"");
}

Result<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kNotFound, "config file " + path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace archway
