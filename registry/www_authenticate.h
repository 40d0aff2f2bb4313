// WWW-Authenticate challenges (RFC 7235): `Bearer realm="https://auth.lan/token",
// service="registry.lan",scope="repository:a/b:pull,push"`. Quoted values may contain
// commas and escaped quotes; one header may carry several challenges.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace archway::registry {

struct Challenge {
  std::string scheme;                         // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case keys

  std::string Param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
};

// Malformed parts are skipped; never fails.
std::vector<Challenge> ParseWwwAuthenticate(std::string_view header);

}  // namespace archway::registry
