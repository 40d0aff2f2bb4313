// Publishing a manifest list / OCI image index from per-platform sources: the native
// `docker manifest create` + `push`.
//
// - Each source is a single-platform image (platform read from its config blob, never its
//   name) or a list (its runnable entries, filtered by `platforms` when given). A
//   single-platform index (buildx with provenance) is flattened to its image manifest.
//   Two sources with the same platform are an error naming both.
// - Whatever the target repository lacks is copied: blobs cross-repository mounted on
//   the same registry (falling back to a streamed copy when refused), streamed across
//   registries; child manifests copied byte for byte. HEAD before every write, children
//   before the index, so an identical re-run performs no writes.
// - The index is serialised deterministically (entries sorted by platform, fixed key
//   order): the same inputs give the same digest. After the push the target tag is read
//   back and its digest compared.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "registry/registry_api.h"
#include "registry/platform.h"
#include "registry/reference.h"

namespace archway::registry {

enum class ListFormat { kOci, kDocker };

struct PublishOptions {
  ListFormat format = ListFormat::kOci;
  std::map<std::string, std::string> annotations;  // on the index
  std::vector<Platform> platforms;                  // filter for list sources; empty = all
  bool dry_run = false;                             // compute, write nothing
  const Keychain* keychain = nullptr;               // per-call credentials (any registry)
};

struct PublishedEntry {
  Platform platform;
  std::string digest;
  std::string media_type;
  int64_t size = 0;
  std::string source;  // the source reference it came from
};

struct PublishResult {
  std::string digest;      // of the index
  std::string media_type;  // of the index
  std::string index_bytes;
  std::vector<PublishedEntry> entries;  // in index order
  // Write operations performed: manifest PUTs, mount POSTs, blob copies (each at least a
  // POST and a PUT, counted as 2). 0 on an identical re-run.
  int writes = 0;
  int manifests_pushed = 0;  // children and index
  int blobs_mounted = 0;     // cross-repository mounts accepted
  int blobs_copied = 0;      // streamed copies (other registry, or mount refused)
};

class Publisher {
 public:
  explicit Publisher(RegistryApi& client);
  Result<PublishResult> Publish(const Reference& target, const std::vector<Reference>& sources,
                                const PublishOptions& options);

 private:
  RegistryApi& client_;
};

}  // namespace archway::registry
