// The registry operations the engine performs (Resolver, Publisher, the operator's
// reconciler), as an interface: logic above the wire takes a RegistryApi, so it can run
// over something other than the network (an in-memory registry in a fuzz target).
// registry::Client (client.h) is the implementation; its header says how each call
// reaches a registry (endpoints, mirrors, auth, TLS, limits).
//
// Every call takes `extra`, per-call credentials (may be null) that win over the
// implementation's defaults.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "registry/credentials.h"
#include "registry/manifest.h"
#include "registry/reference.h"

namespace archway::registry {

struct FetchedManifest {
  std::string media_type;  // from Content-Type (or the body's mediaType)
  std::string digest;      // verified: sha256 of `bytes`
  std::string bytes;       // exactly as served
};

class RegistryApi {
 public:
  virtual ~RegistryApi() = default;

  // GET of a manifest by tag or digest; `digest` is checked against the bytes.
  virtual Result<FetchedManifest> GetManifest(const Reference& ref, const Keychain* extra = nullptr) = 0;
  // HEAD: digest (Docker-Content-Digest), media type and size. kNotFound when absent.
  virtual Result<Descriptor> HeadManifest(const Reference& ref, const Keychain* extra = nullptr) = 0;
  // Whole blob into memory, verified against `digest`, at most `max_bytes`.
  virtual Result<std::string> GetBlob(const Reference& repo, std::string_view digest, size_t max_bytes,
                                      const Keychain* extra = nullptr) = 0;
  virtual Result<bool> BlobExists(const Reference& repo, std::string_view digest, const Keychain* extra = nullptr) = 0;
  // PUT a manifest at ref's tag (or digest), bytes as given; answers the digest the registry reports.
  virtual Result<std::string> PutManifest(const Reference& ref, std::string_view media_type, std::string_view bytes,
                                          const Keychain* extra = nullptr) = 0;
  // Cross-repository mount on one registry. true: mounted; false: refused (copy instead).
  virtual Result<bool> MountBlob(const Reference& to_repo, std::string_view digest, const Reference& from_repo,
                                 const Keychain* extra = nullptr) = 0;
  // Copies a blob between repositories (any registries), verifying the digest.
  virtual Status CopyBlob(const Reference& from_repo, const Reference& to_repo, const Descriptor& blob,
                          const Keychain* extra = nullptr) = 0;
  // SHA-256 of the credentials that would be used for ref's registry (cache keys).
  virtual std::string CredentialFingerprint(const Reference& ref, const Keychain* extra = nullptr) const = 0;
};

}  // namespace archway::registry
