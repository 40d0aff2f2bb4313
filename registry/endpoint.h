// Where a repository's requests go: the mirrors of registries.yaml (with their rewrite
// rules) and the default endpoint, each with its scheme, host and API path prefix.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "registry/reference.h"
#include "registry/registries_config.h"

namespace archway::registry {

struct Endpoint {
  std::string scheme;      // "http" or "https"
  std::string host;        // host[:port], as used in URLs and for configs/credentials
  std::string api_prefix;  // "/v2" unless the mirror URL names another path
  std::string repository;  // after the mirror's rewrite rules
  bool is_mirror = false;

  std::string BaseUrl() const { return scheme + "://" + host; }
  // "/v2/<repository>/<suffix>"
  std::string Path(std::string_view suffix) const { return api_prefix + "/" + repository + "/" + std::string(suffix); }
};

// localhost, 127.0.0.0/8 and ::1 (any port) are spoken to in plain HTTP, as containerd does.
bool IsLoopbackHost(std::string_view host);

// Pull endpoints: the domain's mirrors (or the "*" mirror's) in order, then the default.
std::vector<Endpoint> PullEndpoints(const RegistriesConfig& config, const Reference& ref);
// Push endpoint: the default endpoint only (mirrors are pull-only).
Endpoint PushEndpoint(const Reference& ref);
// The same, but when the registry's own host is listed among its mirror endpoints
// ("https://127.0.0.1:5000"), that entry's scheme and path are used.
Endpoint PushEndpoint(const RegistriesConfig& config, const Reference& ref);

}  // namespace archway::registry
