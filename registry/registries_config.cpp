#include "registry/registries_config.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "base/encoding.h"

namespace archway::registry {
namespace {

Error Bad(const std::string& key, const std::string& problem) {
  return Error(ErrorCode::kInvalidArgument, "registries.yaml: " + key + ": " + problem);
}

Result<std::string> ScalarString(const YAML::Node& node, const std::string& key) {
  if (!node || node.IsNull()) return std::string();
  if (!node.IsScalar()) return Bad(key, "must be a string");
  return node.Scalar();
}

Result<bool> ScalarBool(const YAML::Node& node, const std::string& key) {
  if (!node || node.IsNull()) return false;
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) return Bad(key, "must be true or false");
  return value;
}

Result<Mirror> ParseMirror(const YAML::Node& node, const std::string& key) {
  Mirror mirror;
  if (!node.IsMap()) return Bad(key, "must be a mapping with endpoint and rewrite");
  for (const auto& item : node) {
    std::string field = item.first.Scalar();
    const YAML::Node& value = item.second;
    if (field == "endpoint") {
      if (value.IsNull()) continue;
      if (!value.IsSequence()) return Bad(key + ".endpoint", "must be a list of URLs");
      for (const auto& endpoint : value) {
        auto s = ScalarString(endpoint, key + ".endpoint");
        if (!s.ok()) return s.error();
        if (s->empty()) return Bad(key + ".endpoint", "empty endpoint");
        mirror.endpoints.push_back(*s);
      }
    } else if (field == "rewrite") {
      if (value.IsNull()) continue;
      if (!value.IsMap()) return Bad(key + ".rewrite", "must be a mapping of regex to replacement");
      for (const auto& rule : value) {
        auto pattern = ScalarString(rule.first, key + ".rewrite");
        auto replacement = ScalarString(rule.second, key + ".rewrite");
        if (!pattern.ok()) return pattern.error();
        if (!replacement.ok()) return replacement.error();
        try {
          std::regex check(*pattern, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          return Bad(key + ".rewrite", "invalid regular expression \"" + *pattern + "\"");
        }
        mirror.rewrites.emplace_back(*pattern, *replacement);
      }
    } else {
      return Bad(key + "." + field, "unknown key");
    }
  }
  return mirror;
}

Result<AuthConfig> ParseAuth(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) return Bad(key, "must be a mapping (username/password, auth, token, identity_token)");
  AuthConfig auth;
  std::string encoded;
  struct FieldRef {
    const char* name;
    std::string* out;
  };
  for (FieldRef f : {FieldRef{"username", &auth.username}, FieldRef{"password", &auth.password},
                     FieldRef{"auth", &encoded}, FieldRef{"token", &auth.registry_token},
                     FieldRef{"identity_token", &auth.identity_token}}) {
    auto value = ScalarString(node[f.name], key + "." + f.name);
    if (!value.ok()) return value.error();
    *f.out = *value;
  }
  for (const auto& item : node) {
    std::string field = item.first.Scalar();
    if (field != "username" && field != "password" && field != "auth" && field != "token" &&
        field != "identity_token")
      return Bad(key + "." + field, "unknown key");
  }
  if (!encoded.empty()) {
    std::optional<std::string> decoded = Base64Decode(encoded);
    size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return Bad(key + ".auth", "must be base64 of user:password");
    auth.username = decoded->substr(0, colon);
    auth.password = decoded->substr(colon + 1);
  }
  return auth;
}

Result<HostConfig> ParseHostConfig(const YAML::Node& node, const std::string& key) {
  HostConfig config;
  if (!node.IsMap()) return Bad(key, "must be a mapping with auth and tls");
  for (const auto& item : node) {
    std::string field = item.first.Scalar();
    const YAML::Node& value = item.second;
    if (field == "auth") {
      if (value.IsNull()) continue;
      auto auth = ParseAuth(value, key + ".auth");
      if (!auth.ok()) return auth.error();
      config.auth = std::move(*auth);
    } else if (field == "tls") {
      if (value.IsNull()) continue;
      if (!value.IsMap()) return Bad(key + ".tls", "must be a mapping");
      for (const auto& tls_item : value) {
        std::string tls_field = tls_item.first.Scalar();
        std::string tls_key = key + ".tls." + tls_field;
        if (tls_field == "insecure_skip_verify") {
          auto b = ScalarBool(tls_item.second, tls_key);
          if (!b.ok()) return b.error();
          config.tls.insecure_skip_verify = *b;
          continue;
        }
        std::string* target = tls_field == "ca_file"     ? &config.tls.ca_file
                              : tls_field == "cert_file" ? &config.tls.cert_file
                              : tls_field == "key_file"  ? &config.tls.key_file
                                                         : nullptr;
        if (target == nullptr) return Bad(tls_key, "unknown key");
        auto s = ScalarString(tls_item.second, tls_key);
        if (!s.ok()) return s.error();
        *target = *s;
      }
      if (config.tls.cert_file.empty() != config.tls.key_file.empty())
        return Bad(key + ".tls", "cert_file and key_file must be given together");
    } else {
      return Bad(key + "." + field, "unknown key");
    }
  }
  return config;
}

}  // namespace

Keychain RegistriesConfig::ToKeychain() const {
  Keychain keychain;
  for (const auto& [host, config] : configs) {
    if (config.auth && !config.auth->empty()) keychain.Add(host, *config.auth);
  }
  return keychain;
}

Result<RegistriesConfig> ParseRegistriesYaml(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("registries.yaml: ") + e.what());
  }
  RegistriesConfig config;
  if (!root || root.IsNull()) return config;
  if (!root.IsMap()) return Bad("(top level)", "must be a mapping with mirrors and configs");
  try {
    for (const auto& section : root) {
      std::string name = section.first.Scalar();
      const YAML::Node& value = section.second;
      if (value.IsNull()) continue;
      if (name != "mirrors" && name != "configs") return Bad(name, "unknown key (expected mirrors or configs)");
      if (!value.IsMap()) return Bad(name, "must be a mapping");
      for (const auto& item : value) {
        std::string host = item.first.Scalar();
        if (host.empty()) return Bad(name, "empty registry name");
        if (name == "mirrors") {
          auto mirror = ParseMirror(item.second, "mirrors." + host);
          if (!mirror.ok()) return mirror.error();
          config.mirrors[host] = std::move(*mirror);
        } else {
          auto host_config = ParseHostConfig(item.second, "configs." + host);
          if (!host_config.ok()) return host_config.error();
          config.configs[host] = std::move(*host_config);
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("registries.yaml: ") + e.what());
  }
  return config;
}

Result<RegistriesConfig> LoadRegistriesYaml(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return RegistriesConfig();
  std::ostringstream content;
  content << in.rdbuf();
  auto config = ParseRegistriesYaml(content.str());
  if (!config.ok()) return config.error().Wrap(path);
  return config;
}

std::string DefaultRegistriesPath() {
  const char* path = "/etc/rancher/k3s/registries.yaml";
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? path : "";
}

}  // namespace archway::registry
