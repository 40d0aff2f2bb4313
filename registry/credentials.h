// Registry credentials from Docker config.json, kubernetes.io/dockerconfigjson Secrets
// (and legacy kubernetes.io/dockercfg) and k3s registries.yaml. A Keychain is an
// immutable value; it never logs or prints its secrets.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace archway::registry {

struct AuthConfig {
  std::string username;
  std::string password;
  std::string identity_token;  // OAuth2 refresh token (docker config "identitytoken")
  std::string registry_token;  // bearer token to send as-is ("registrytoken")
  bool empty() const { return username.empty() && password.empty() && identity_token.empty() && registry_token.empty(); }
};

class Keychain {
 public:
  Keychain() = default;

  // {"auths": {"registry.lan:5000": {"auth": base64(user:pass)} | {"username","password"}}}
  // Keys may be bare hosts, URLs ("https://index.docker.io/v1/") or host/path.
  static Result<Keychain> FromDockerConfigJson(std::string_view json);
  // Legacy .dockercfg: the "auths" object without the wrapper.
  static Result<Keychain> FromDockerCfg(std::string_view json);
  // Reads the file; a missing file is an empty keychain, a malformed one an error.
  static Result<Keychain> FromDockerConfigFile(const std::string& path);
  // $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
  static std::string DefaultDockerConfigPath();

  void Add(std::string registry_host, AuthConfig auth);
  // Entries of `this` win over `fallback`'s for the same host.
  Keychain MergedOver(const Keychain& fallback) const;

  // The credentials for a registry domain ("docker.io" also matches index.docker.io,
  // registry-1.docker.io and https://index.docker.io/v1/ keys).
  std::optional<AuthConfig> Lookup(std::string_view registry_domain) const;

  // SHA-256 over the credentials Lookup(domain) would return ("" when anonymous), so cache
  // keys can tell tenants apart without holding their secrets.
  std::string Fingerprint(std::string_view registry_domain) const;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, AuthConfig> entries_;  // normalised host -> auth
};

}  // namespace archway::registry
