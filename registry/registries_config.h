// k3s / containerd registries.yaml: the same file k3s nodes read from
// /etc/rancher/k3s/registries.yaml.
//
//   mirrors:
//     docker.io:
//       endpoint: ["https://mirror.lan:5000"]
//       rewrite: {"^library/(.*)": "mirrored/$1"}
//     "*": {endpoint: [...]}                    # wildcard mirror for every registry
//   configs:
//     "mirror.lan:5000":
//       auth: {username: u, password: p}        # or auth: base64, or token, identity_token
//       tls: {ca_file: /ca.pem, cert_file:, key_file:, insecure_skip_verify: false}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "registry/credentials.h"

namespace archway::registry {

struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure_skip_verify = false;
};

struct HostConfig {
  std::optional<AuthConfig> auth;
  TlsConfig tls;
};

struct Mirror {
  std::vector<std::string> endpoints;  // URLs as written ("https://mirror.lan:5000", "http://10.0.0.5:5000/v2")
  // Ordered regex -> replacement applied to the repository for this mirror's endpoints.
  std::vector<std::pair<std::string, std::string>> rewrites;
};

struct RegistriesConfig {
  std::map<std::string, Mirror> mirrors;     // registry domain (or "*") -> mirror
  std::map<std::string, HostConfig> configs;  // endpoint host[:port] (or domain) -> config

  // Credentials from `configs[*].auth`, keyed by host.
  Keychain ToKeychain() const;
};

// Parses registries.yaml text; errors name the offending key.
Result<RegistriesConfig> ParseRegistriesYaml(std::string_view yaml_text);
// Reads the file; a missing file is an empty config.
Result<RegistriesConfig> LoadRegistriesYaml(const std::string& path);
// /etc/rancher/k3s/registries.yaml when it exists, else "".
std::string DefaultRegistriesPath();

}  // namespace archway::registry
