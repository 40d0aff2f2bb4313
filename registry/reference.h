// Image references, parsed per the distribution reference grammar
// (github.com/distribution/reference) with Docker Hub normalisation:
//   nginx                 -> docker.io/library/nginx:latest
//   user/app:1            -> docker.io/user/app:1
//   registry.lan:5000/web -> registry.lan:5000/web:latest
//   web:1.4@sha256:...    -> tag kept for display, the digest wins for resolution
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace archway::registry {

struct Reference {
  std::string domain;      // "docker.io", "registry.lan:5000", "localhost:5000"
  std::string repository;  // "library/nginx"
  std::string tag;         // "" when the reference has only a digest
  std::string digest;      // "sha256:<64 hex>" or ""

  // domain/repository
  std::string Name() const;
  // Canonical string: domain/repository[:tag][@digest].
  std::string String() const;
  // What to ask the registry for: the digest when present, else the tag.
  std::string Identifier() const;
  bool HasDigest() const { return !digest.empty(); }
  // The same repository at another tag / digest (clears the other).
  Reference WithTag(std::string tag) const;
  Reference WithDigest(std::string digest) const;

  bool operator==(const Reference&) const = default;
};

// Parses and normalises. Errors are kInvalidArgument with a one-line reason naming the
// offending part, e.g. `invalid reference "Nginx": repository name must be lowercase`.
// A missing tag and digest means ":latest".
Result<Reference> ParseReference(std::string_view text);

// "docker.io" is served at "registry-1.docker.io"; every other domain at itself.
std::string DefaultEndpointHost(std::string_view domain);

}  // namespace archway::registry
