// "Which platforms does this image run on?" with the fewest registry requests:
//   cold, list by tag          = 1 manifest GET (the digest comes with it)
//   cold, single-platform image = manifest GET + config blob GET
//   warm (tag entry expired)    = 1 HEAD; a new digest only then is fetched
//   hot                         = 0
// Cached() is the hot case alone: 0 requests and no waiting on one in flight, for callers
// that must not block (the webhook's IO threads). It costs the credential fingerprint
// (remembered per registry for the client's own credentials; a SHA-256 for extra ones)
// and three hash look-ups under the lock; so does Resolve() on a hit.
// tag -> digest is cached briefly, digest -> platforms for long (bounded LRU; a digest's
// platforms never change), failures briefly; concurrent look-ups of one key share one
// request; every key includes the credential fingerprint so one tenant's answer never
// serves another. Thread-safe.
//
// A digest can be marked suspect (MarkSuspect: one hash look-up under the lock) when a
// node contradicted what its list says: a platform it names failed there with `exec
// format error`. Its platforms are still answered as the registry lists them (the digest's
// content cannot change, so asking again would tell nothing; whether to place pods by the
// list anyway is the caller's decision) and Suspect() names the contradicted platforms.
// What changes: a tag that resolved to the digest before it was marked is revalidated
// at its next look-up (1 HEAD, then fresh again for tag_ttl) instead of when its entry
// expires, so an image fixed and pushed again under the same tag is seen at once; Cached()
// answers nullptr for such a tag until Resolve() has revalidated it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "registry/registry_api.h"
#include "registry/platform.h"
#include "registry/reference.h"

namespace archway::registry {

struct ImagePlatforms {
  std::string digest;      // of the manifest the reference resolves to
  std::string media_type;
  // Runnable platforms, sorted, unique (entries differing only in os.version are distinct:
  // Windows builds). Empty with data_only = true for artifacts whose
  // config declares no platform (they fit every platform).
  std::vector<Platform> platforms;
  bool data_only = false;
};

struct ResolverOptions {
  std::chrono::milliseconds tag_ttl{std::chrono::minutes(5)};
  std::chrono::milliseconds failure_ttl{std::chrono::seconds(10)};
  size_t digest_cache_entries = 10000;
  std::function<std::chrono::steady_clock::time_point()> clock;  // for tests; default steady_clock
  std::function<void(bool hit)> cache_observer;                  // metrics
};

class Resolver {
 public:
  Resolver(RegistryApi& client, ResolverOptions options);
  ~Resolver();
  Result<ImagePlatforms> Resolve(const Reference& ref, const Keychain* extra = nullptr);

  // What memory alone says about `ref`: its platforms (a digest, or a tag whose entry is
  // fresh), a failure still remembered, or nullptr when only Resolve() can tell. Counted by
  // the cache observer as a hit when it answers, not at all when it does not.
  Result<std::shared_ptr<const ImagePlatforms>> Cached(const Reference& ref, const Keychain* extra = nullptr);

  // Records that `platform`, which the manifest at `digest` ("sha256:...") lists, failed on
  // a node of that platform with exec format error. True when this (digest, platform) was
  // not suspect yet, so a caller warns once. Kept for as many digests as the digest cache
  // holds (least recently marked forgotten first).
  bool MarkSuspect(const std::string& digest, const Platform& platform);
  // The platforms reported against `digest`, sorted; empty when it is not suspect.
  std::vector<Platform> Suspect(const std::string& digest);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace archway::registry
