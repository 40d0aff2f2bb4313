// A RegistryApi (registry/registry_api.h) over maps in memory, for fuzz targets that run
// the reconciler once per input and so cannot start a docker-registry each time (tests
// use a real one). It behaves as a distribution registry does for the calls archway
// makes: manifests by tag and by digest (a PUT by tag is also stored by its digest; the
// digest is sha256 of the bytes, verified on a GET by digest), blobs by digest per
// repository, a mount only within one registry host, kNotFound for what it does not hold.
// Not thread-safe: one caller at a time.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "registry/registry_api.h"

namespace archway::testing {

class MemoryRegistry : public registry::RegistryApi {
 public:
  // Stores `bytes` at ref's tag (or digest) and by digest; answers the digest.
  std::string PutManifestBytes(const registry::Reference& ref, std::string media_type, std::string bytes);
  // Stores a blob in ref's repository; answers its digest.
  std::string PutBlobBytes(const registry::Reference& repo, std::string bytes);
  int WriteCount() const { return writes_; }

  Result<registry::FetchedManifest> GetManifest(const registry::Reference& ref,
                                                const registry::Keychain* extra = nullptr) override;
  Result<registry::Descriptor> HeadManifest(const registry::Reference& ref,
                                            const registry::Keychain* extra = nullptr) override;
  Result<std::string> GetBlob(const registry::Reference& repo, std::string_view digest, size_t max_bytes,
                              const registry::Keychain* extra = nullptr) override;
  Result<bool> BlobExists(const registry::Reference& repo, std::string_view digest,
                          const registry::Keychain* extra = nullptr) override;
  Result<std::string> PutManifest(const registry::Reference& ref, std::string_view media_type, std::string_view bytes,
                                  const registry::Keychain* extra = nullptr) override;
  Result<bool> MountBlob(const registry::Reference& to_repo, std::string_view digest,
                         const registry::Reference& from_repo, const registry::Keychain* extra = nullptr) override;
  Status CopyBlob(const registry::Reference& from_repo, const registry::Reference& to_repo,
                  const registry::Descriptor& blob, const registry::Keychain* extra = nullptr) override;
  std::string CredentialFingerprint(const registry::Reference& ref,
                                    const registry::Keychain* extra = nullptr) const override;

 private:
  struct StoredManifest {
    std::string media_type;
    std::string bytes;
  };
  const StoredManifest* FindManifest(const registry::Reference& ref) const;

  // repository name (domain/repository) -> tag or digest -> manifest
  std::map<std::string, std::map<std::string, StoredManifest>> manifests_;
  // repository name -> digest -> bytes
  std::map<std::string, std::map<std::string, std::string>> blobs_;
  int writes_ = 0;
};

}  // namespace archway::testing
