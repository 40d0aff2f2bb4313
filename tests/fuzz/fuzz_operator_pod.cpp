// Fuzzes what the exec-format-error watcher reads of a Pod (operator/exec_format.h): any
// JSON the API could send, or a Pod of an odd shape, must read as fewer failures, never a
// crash; what the watcher caches (CachePod, in a pool as its informer keeps it, and a
// copy of it) must read exactly as the whole object; and
// each failure must be judged (with the input also read as the Node) against an image
// resolved for amd64 only, for arm64 and arm/v7, as data only, and not resolved.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory_resource>
#include <string>

#include <nlohmann/json.hpp>

#include "operator/exec_format.h"

namespace {
archway::registry::Platform Linux(const std::string& arch, const std::string& variant = "") {
  archway::registry::Platform p;
  p.os = "linux";
  p.architecture = arch;
  p.variant = variant;
  return p;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace archway;
  auto pod = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (pod.is_discarded()) return 0;
  const op::PodFailures whole = op::DetectExecFormatErrors(pod);
  std::pmr::unsynchronized_pool_resource pool;
  const op::CachedPod cached = op::CachePod(pod, &pool);
  const op::CachedPod copy = cached;
  for (const op::CachedPod* record : {&cached, &copy}) {
    const op::PodFailures read = op::ReadCachedPod(*record);
    if (!(read.failures == whole.failures)) std::abort();
    if (record->Failing() == whole.failures.empty()) std::abort();
    if (!whole.failures.empty() && !(read == whole)) std::abort();
    if (read.ns != whole.ns || read.name != whole.name || read.uid != whole.uid) std::abort();
    if (std::string(record->resource_version) != kube::StringAt(pod, {"metadata", "resourceVersion"}).value_or(""))
      std::abort();
  }

  const op::NodePlatform node = op::ReadNodePlatform(whole.node, pod);
  registry::ImagePlatforms amd64{"sha256:" + std::string(64, 'a'), "application/vnd.oci.image.index.v1+json",
                                 {Linux("amd64")}, false};
  registry::ImagePlatforms arm{"sha256:" + std::string(64, 'b'), "application/vnd.oci.image.index.v1+json",
                               {Linux("arm", "v7"), Linux("arm64")}, false};
  registry::ImagePlatforms data_only{"sha256:" + std::string(64, 'c'), "application/vnd.oci.image.manifest.v1+json",
                                     {}, true};
  for (const op::ContainerFailure& failure : whole.failures) {
    for (const auto& resolved : {Result<registry::ImagePlatforms>(amd64), Result<registry::ImagePlatforms>(arm),
                                 Result<registry::ImagePlatforms>(data_only),
                                 Result<registry::ImagePlatforms>(Error(ErrorCode::kUnavailable, "registry down"))}) {
      const op::Judgement judgement = op::JudgeFailure(whole, failure, node, resolved);
      if (judgement.verdict == op::Verdict::kListLies) (void)op::SuspectNote(failure, node, judgement);
    }
  }
  return 0;
}
