#include "registry/credentials.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace archway::registry {
namespace {

using Json = nlohmann::json;

// "https://index.docker.io/v1/" -> "docker.io"; "Registry.LAN:5000/path" -> "registry.lan:5000".
std::string NormalizeHost(std::string_view key) {
  std::string_view s = key;
  if (size_t scheme = s.find("://"); scheme != std::string_view::npos) s = s.substr(scheme + 3);
  s = s.substr(0, s.find('/'));
  std::string host(s);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "index.docker.io" || host == "registry-1.docker.io" || host == "registry.hub.docker.com") return "docker.io";
  return host;
}

Error Malformed(const char* what, const std::string& detail) {
  return Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + detail);
}

Result<AuthConfig> ParseAuthEntry(const Json& entry, const std::string& host, const char* what) {
  if (!entry.is_object()) return Malformed(what, "entry for \"" + host + "\" is not an object");
  AuthConfig auth;
  auto string_field = [&](const char* key, std::string& out) -> Status {
    auto it = entry.find(key);
    if (it == entry.end() || it->is_null()) return Status::Ok();
    if (!it->is_string()) return Malformed(what, "\"" + host + "\"." + key + " is not a string");
    out = it->get<std::string>();
    return Status::Ok();
  };
  std::string encoded;
  for (auto [key, field] : {std::pair<const char*, std::string*>{"auth", &encoded},
                            {"username", &auth.username},
                            {"password", &auth.password},
                            {"identitytoken", &auth.identity_token},
                            {"registrytoken", &auth.registry_token}}) {
    if (Status s = string_field(key, *field); !s.ok()) return s.error();
  }
  if (!encoded.empty()) {
    std::optional<std::string> decoded = Base64Decode(encoded);
    if (!decoded) return Malformed(what, "\"" + host + "\".auth is not valid base64");
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return Malformed(what, "\"" + host + "\".auth does not decode to user:password");
    auth.username = decoded->substr(0, colon);
    auth.password = decoded->substr(colon + 1);
  }
  return auth;
}

Result<Keychain> FromAuthsObject(const Json& auths, const char* what) {
  if (!auths.is_object()) return Malformed(what, "\"auths\" is not an object");
  Keychain keychain;
  for (const auto& [key, entry] : auths.items()) {
    auto auth = ParseAuthEntry(entry, key, what);
    if (!auth.ok()) return auth.error();
    // An entry without credentials means "ask a credential helper", which archway does not run.
    if (auth->empty()) continue;
    keychain.Add(key, std::move(*auth));
  }
  return keychain;
}

Result<Json> ParseObject(std::string_view json, const char* what) {
  Json parsed = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Malformed(what, "not valid JSON");
  if (!parsed.is_object()) return Malformed(what, "not a JSON object");
  return parsed;
}

}  // namespace

Result<Keychain> Keychain::FromDockerConfigJson(std::string_view json) {
  auto parsed = ParseObject(json, "docker config");
  if (!parsed.ok()) return parsed.error();
  auto auths = parsed->find("auths");
  if (auths == parsed->end() || auths->is_null()) return Keychain();
  return FromAuthsObject(*auths, "docker config");
}

Result<Keychain> Keychain::FromDockerCfg(std::string_view json) {
  auto parsed = ParseObject(json, "dockercfg");
  if (!parsed.ok()) return parsed.error();
  return FromAuthsObject(*parsed, "dockercfg");
}

Result<Keychain> Keychain::FromDockerConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Keychain();
  std::ostringstream content;
  content << in.rdbuf();
  auto keychain = FromDockerConfigJson(content.str());
  if (!keychain.ok()) return keychain.error().Wrap(path);
  return keychain;
}

std::string Keychain::DefaultDockerConfigPath() {
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/config.json";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.docker/config.json";
}

void Keychain::Add(std::string registry_host, AuthConfig auth) {
  entries_[NormalizeHost(registry_host)] = std::move(auth);
}

Keychain Keychain::MergedOver(const Keychain& fallback) const {
  Keychain merged = fallback;
  for (const auto& [host, auth] : entries_) merged.entries_[host] = auth;
  return merged;
}

std::optional<AuthConfig> Keychain::Lookup(std::string_view registry_domain) const {
  auto it = entries_.find(NormalizeHost(registry_domain));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::string Keychain::Fingerprint(std::string_view registry_domain) const {
  std::optional<AuthConfig> auth = Lookup(registry_domain);
  if (!auth) return "";
  std::string material;
  for (const std::string* part : {&auth->username, &auth->password, &auth->identity_token, &auth->registry_token}) {
    material += std::to_string(part->size());
    material += ':';
    material += *part;
  }
  return Sha256Hex(material);
}

}  // namespace archway::registry
