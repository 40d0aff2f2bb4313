// The manifest reader of `archway check` (YAML and JSON, multi-document, Lists) on
// arbitrary input: it must return, never crash, hang or throw, and what it reads must be
// consistent (each workload has a pod object at its path).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "check/evaluate.h"
#include "check/manifests.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  archway::check::Manifests manifests;
  // The first byte picks the name: JSON is chosen by name or by the text's first character.
  archway::check::ReadManifestText(size > 0 && data[0] % 2 == 0 ? "in.yaml" : "in.json", text, manifests);
  for (const auto& workload : manifests.workloads) {
    if (!workload.Pod().is_object()) std::abort();
    (void)archway::check::ImagesOf(workload);
    (void)archway::check::Evaluate(workload, {}, {}, {});
  }
  return 0;
}
