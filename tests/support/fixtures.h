// Registry fixtures made independently of archway's client: hand-written blobs and
// manifests pushed over the HTTP API, and real images built and pushed by buildah.
//
//   RegistryServer registry;
//   std::string config = PushBlob(registry, "x/y", R"({"os":"linux","architecture":"arm64"})");
//   std::string digest = PushRaw(registry, "x/y", "v1", media_type, manifest_json);
//   std::string image  = BuildahImage(registry, "x/y:arm", "linux/arm/v7");         // digest
//   std::string list   = BuildahManifestList(registry, "x/y:multi", {"linux/amd64", "linux/arm64"});
//   std::string tiny   = PushPlatformImage(registry, "x/y", "amd64", "linux/amd64");    // no buildah: fast
//   std::string index  = PushPlatformIndex(registry, "x/y", "multi", {"linux/amd64", "windows/amd64"});
//
// All helpers authenticate as the registry's fixture user and throw std::runtime_error on
// failure (so a broken fixture fails the test loudly).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/registry_server.h"

namespace archway::testing {

// Uploads `bytes` as a blob of `repository`; returns its digest ("sha256:...").
std::string PushBlob(RegistryServer& registry, const std::string& repository, const std::string& bytes);
// PUTs a manifest at `reference` (tag or digest) with Content-Type `media_type`, bytes as
// given; returns the digest of `bytes`.
std::string PushRaw(RegistryServer& registry, const std::string& repository, const std::string& reference,
                    const std::string& media_type, const std::string& bytes);
// Same, against any registry host speaking plain HTTP without auth.
std::string PushRaw(const std::string& host, const std::string& repository, const std::string& reference,
                    const std::string& media_type, const std::string& bytes);

// A tiny hand-made OCI image for `platform` ("os/arch[/variant]"): a config blob naming
// the platform and one small layer. `salt` makes distinct images of one platform.
// Returns the manifest digest.
std::string PushPlatformImage(RegistryServer& registry, const std::string& repository, const std::string& tag,
                              const std::string& platform, const std::string& salt = "");
// One PushPlatformImage per platform (pushed by digest) and an OCI image index listing
// them with their platforms, pushed at `tag`. Returns the index digest.
std::string PushPlatformIndex(RegistryServer& registry, const std::string& repository, const std::string& tag,
                              const std::vector<std::string>& platforms, const std::string& salt = "");

enum class ImageFormat { kOci, kDocker };

// A buildah with its own storage (a temp dir), for building several images and lists.
class Buildah {
 public:
  Buildah();
  // Builds a tiny scratch image (one small file, so it has a layer) for `platform`
  // ("os/arch[/variant]"); returns the local image name.
  std::string Build(const std::string& platform, ImageFormat format = ImageFormat::kOci);
  // Pushes a local image to registry.host()/repo_tag; returns the pushed manifest digest.
  std::string Push(const std::string& local_image, RegistryServer& registry, const std::string& repo_tag,
                   ImageFormat format = ImageFormat::kOci);
  // Builds one image per platform and pushes them as a list (`manifest push --all`);
  // returns the list's digest.
  std::string PushList(RegistryServer& registry, const std::string& repo_tag, const std::vector<std::string>& platforms,
                       ImageFormat format = ImageFormat::kOci);
  // Runs buildah with this storage; throws with the output on failure.
  std::string Run(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(120));

 private:
  TempDir dir_;
  int serial_ = 0;
};

// One-shot versions of the above with a throwaway Buildah.
std::string BuildahImage(RegistryServer& registry, const std::string& repo_tag, const std::string& platform,
                         ImageFormat format = ImageFormat::kOci);
std::string BuildahManifestList(RegistryServer& registry, const std::string& repo_tag,
                                const std::vector<std::string>& platforms, ImageFormat format = ImageFormat::kOci);

}  // namespace archway::testing
