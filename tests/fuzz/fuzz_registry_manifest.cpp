// libFuzzer target: ParseManifest (under every content type it may be served with) and
// PlatformFromConfig must never crash on hostile bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "registry/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace mt = archway::registry::media_type;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (const char* content_type : {"", mt::kOciIndex, mt::kDockerList, mt::kOciManifest, mt::kDockerManifest,
                                   mt::kDockerSchema1Signed, "application/json; charset=utf-8"}) {
    auto manifest = archway::registry::ParseManifest(bytes, content_type);
    if (manifest.ok()) {
      for (const auto& entry : manifest->manifests) {
        if (!archway::registry::IsValidDigest(entry.digest) || entry.size < 0) std::abort();
        (void)entry.IsAttestationOrUnknown();
      }
    }
  }
  auto platform = archway::registry::PlatformFromConfig(bytes);
  if (platform.ok() && platform->has_value() && (*platform)->os.empty()) std::abort();
  return 0;
}
