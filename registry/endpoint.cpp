#include "registry/endpoint.h"

#include <regex>

namespace archway::registry {
namespace {

std::string HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return std::string(host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  return std::string(host.substr(0, host.find(':')));
}

std::string ApplyRewrites(const Mirror& mirror, const std::string& repository) {
  for (const auto& [pattern, replacement] : mirror.rewrites) {
    try {
      std::regex re(pattern, std::regex::ECMAScript);
      if (std::regex_search(repository, re)) return std::regex_replace(repository, re, replacement);
    } catch (const std::regex_error&) {
      // Validated at parse time; a rule that still fails to compile is skipped.
    }
  }
  return repository;
}

Endpoint FromMirrorUrl(std::string_view url, const std::string& repository) {
  Endpoint e;
  std::string_view rest = url;
  if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    e.scheme = std::string(rest.substr(0, scheme));
    rest = rest.substr(scheme + 3);
  }
  size_t slash = rest.find('/');
  e.host = std::string(rest.substr(0, slash));
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.api_prefix = path.empty() ? "/v2" : path;
  if (e.scheme.empty()) e.scheme = IsLoopbackHost(e.host) ? "http" : "https";
  e.repository = repository;
  e.is_mirror = true;
  return e;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  std::string name = HostWithoutPort(host);
  return name == "localhost" || name == "::1" || name.rfind("127.", 0) == 0;
}

Endpoint PushEndpoint(const Reference& ref) {
  Endpoint e;
  e.host = DefaultEndpointHost(ref.domain);
  e.scheme = IsLoopbackHost(e.host) ? "http" : "https";
  e.api_prefix = "/v2";
  e.repository = ref.repository;
  return e;
}

Endpoint PushEndpoint(const RegistriesConfig& config, const Reference& ref) {
  Endpoint fallback = PushEndpoint(ref);
  auto mirror = config.mirrors.find(ref.domain);
  if (mirror == config.mirrors.end()) return fallback;
  for (const std::string& url : mirror->second.endpoints) {
    Endpoint e = FromMirrorUrl(url, ref.repository);
    if (e.host == fallback.host) {
      e.is_mirror = false;
      return e;
    }
  }
  return fallback;
}

std::vector<Endpoint> PullEndpoints(const RegistriesConfig& config, const Reference& ref) {
  std::vector<Endpoint> endpoints;
  auto mirror = config.mirrors.find(ref.domain);
  if (mirror == config.mirrors.end()) mirror = config.mirrors.find("*");
  Endpoint fallback = PushEndpoint(ref);
  bool fallback_listed = false;
  if (mirror != config.mirrors.end()) {
    std::string repository = ApplyRewrites(mirror->second, ref.repository);
    for (const std::string& url : mirror->second.endpoints) {
      Endpoint e = FromMirrorUrl(url, repository);
      // The default endpoint listed among the mirrors keeps its place (containerd does the same).
      if (e.host == fallback.host) {
        e.is_mirror = false;
        fallback_listed = true;
      }
      endpoints.push_back(std::move(e));
    }
  }
  if (!fallback_listed) endpoints.push_back(std::move(fallback));
  return endpoints;
}

}  // namespace archway::registry
