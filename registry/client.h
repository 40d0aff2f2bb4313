// The OCI distribution client: every HTTP exchange with a registry goes through here
// (the engine's RegistryApi, registry_api.h, plus UploadBlob).
//
// - Endpoint selection: for pulls, a domain's mirrors from registries.yaml are tried in
//   order (with their rewrite rules), then the default endpoint (registry-1.docker.io for
//   docker.io). Pushes go to the default endpoint only (k3s mirrors are pull-only).
// - Scheme: https, except endpoints written http:// in registries.yaml and
//   localhost / 127.0.0.0/8 / ::1, which are plain http (as containerd does).
// - Auth: anonymous first; on a 401 challenge, Bearer (realm/service/scope, token cached
//   per registry+scope until it expires) or Basic with the host's credentials. Per-host
//   TLS CA / client cert / insecure_skip_verify from registries.yaml.
// - Manifest requests always carry media_type::kManifestAccept. Fetched manifests are
//   checked against their digest and bounded by kMaxManifestBytes.
// - Redirects (blob storage) are followed manually; Authorization is never sent to
//   another host. 429 honours Retry-After (bounded). Connect and total timeouts apply.
// - Proxies: every exchange (registry, token realm, blob storage) honours HTTPS_PROXY /
//   HTTP_PROXY / NO_PROXY as Go and containerd read them (base/proxy.h), unless
//   ClientOptions::proxy says otherwise; loopback registries are never proxied. A proxy's
//   failure is reported as the proxy's ("proxy proxy.corp:3128 answered 407 to CONNECT
//   registry.lan:443"). (The Kubernetes API client never uses a proxy.)
// - Retries on a new connection only when they cannot repeat an action (base/http.h's
//   Exchange): a blob-upload POST or a chunk PATCH that may have reached the registry is
//   never sent twice.
//
// Thread-safe: one Client serves the whole process.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/proxy.h"
#include "base/result.h"
#include "registry/credentials.h"
#include "registry/manifest.h"
#include "registry/reference.h"
#include "registry/registries_config.h"
#include "registry/registry_api.h"

namespace archway::registry {

// One HTTP exchange, reported to ClientOptions::observer (metrics, request counting).
struct RequestEvent {
  std::string registry;  // endpoint host[:port]
  std::string method;    // GET, HEAD, PUT, POST, PATCH
  std::string path;      // no query string (never credentials)
  int status = 0;        // 0 when no response arrived
  std::chrono::microseconds latency{0};
};

struct ClientOptions {
  RegistriesConfig registries;
  // Default credentials (Docker config.json merged with registries.yaml auth). Per-call
  // keychains (a pod's pull secrets) take precedence over these.
  Keychain keychain;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds max_retry_after{10000};  // longest 429 Retry-After honoured
  std::function<void(const RequestEvent&)> observer;
  std::string user_agent = "archway";
  // nullopt: from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, or lower case), read
  // once when the Client is made. A default-constructed ProxyConfig connects directly.
  std::optional<http::ProxyConfig> proxy;
};

class Client : public RegistryApi {
 public:
  explicit Client(ClientOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // `extra` (may be null) holds per-call credentials that win over the defaults.
  Result<FetchedManifest> GetManifest(const Reference& ref, const Keychain* extra = nullptr) override;
  // HEAD: digest (Docker-Content-Digest), media type and size. kNotFound when absent.
  Result<Descriptor> HeadManifest(const Reference& ref, const Keychain* extra = nullptr) override;
  // Whole blob into memory, verified against `digest`, at most `max_bytes`.
  Result<std::string> GetBlob(const Reference& repo, std::string_view digest, size_t max_bytes,
                              const Keychain* extra = nullptr) override;
  Result<bool> BlobExists(const Reference& repo, std::string_view digest, const Keychain* extra = nullptr) override;

  // PUT a manifest at ref's tag (or digest) with the given Content-Type, bytes as given.
  // Returns the digest the registry reports.
  Result<std::string> PutManifest(const Reference& ref, std::string_view media_type, std::string_view bytes,
                                  const Keychain* extra = nullptr) override;
  // Cross-repository mount (POST /v2/<to>/blobs/uploads/?mount=<digest>&from=<from>).
  // true: mounted (201). false: the registry refused and opened an upload instead (202) —
  // the caller falls back to CopyBlob. Both repositories must be on the same registry.
  Result<bool> MountBlob(const Reference& to_repo, std::string_view digest, const Reference& from_repo,
                         const Keychain* extra = nullptr) override;
  // Streams a blob from one repository (any registry) to another without holding it in
  // memory; verifies the digest on the way.
  Status CopyBlob(const Reference& from_repo, const Reference& to_repo, const Descriptor& blob,
                  const Keychain* extra = nullptr) override;
  // Monolithic upload of a small blob held in memory.
  Status UploadBlob(const Reference& repo, std::string_view digest, std::string_view bytes,
                    const Keychain* extra = nullptr);

  // SHA-256 of the credentials that would be used for ref's registry (cache keys).
  std::string CredentialFingerprint(const Reference& ref, const Keychain* extra = nullptr) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::registry
