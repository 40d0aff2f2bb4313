// The status of a MultiArchImage: what is stored (ObservedStatus, read once per
// reconcile, never throwing), what the reconciler wants it to say (DesiredStatus), and
// the JSON written through the status subresource. Rendering keeps the Ready condition's
// lastTransitionTime when its status did not change, so an unchanged state renders to
// exactly the stored JSON and the reconciler can skip the write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/object.h"

namespace archway::op {

using Json = nlohmann::json;

namespace phase {
inline constexpr const char* kBuilding = "Building";
inline constexpr const char* kPublishing = "Publishing";
inline constexpr const char* kReady = "Ready";
inline constexpr const char* kFailed = "Failed";
}  // namespace phase

// Reasons of the Ready condition; each names what the user can do something about.
namespace reason {
inline constexpr const char* kPublished = "Published";                  // True
inline constexpr const char* kInvalidSpec = "InvalidSpec";              // fix the spec
inline constexpr const char* kPushSecretNotFound = "PushSecretNotFound";  // create the Secret
inline constexpr const char* kPushSecretInvalid = "PushSecretInvalid";    // fix its type/content
inline constexpr const char* kSourceNotFound = "SourceNotFound";          // push the source
inline constexpr const char* kPlatformMismatch = "PlatformMismatch";      // sources vs platforms
inline constexpr const char* kRegistryAuthFailed = "RegistryAuthFailed";  // credentials
inline constexpr const char* kRegistryUnavailable = "RegistryUnavailable";  // retried with backoff
inline constexpr const char* kPublishFailed = "PublishFailed";
inline constexpr const char* kBuilding = "Building";                    // Jobs running
inline constexpr const char* kNoBuilderNode = "NoBuilderNode";          // add a node or allow emulation
inline constexpr const char* kJobCreateFailed = "JobCreateFailed";      // RBAC, quota
inline constexpr const char* kBuildFailed = "BuildFailed";              // see the Job's logs
}  // namespace reason

// Per-platform states.
namespace state {
inline constexpr const char* kWaiting = "Waiting";      // no builder node
inline constexpr const char* kPending = "Pending";      // Job created, not running yet
inline constexpr const char* kRunning = "Running";
inline constexpr const char* kSucceeded = "Succeeded";
inline constexpr const char* kFailed = "Failed";
inline constexpr const char* kPublished = "Published";  // sources mode: in the list
}  // namespace state

struct PlatformStatus {
  std::string platform;
  std::string digest;   // the platform's manifest in the published list
  std::string source;   // sources mode: the source, pinned "ref@sha256:..."
  std::string job;      // build mode: the builder Job
  std::string state;
  std::string message;

  bool operator==(const PlatformStatus&) const = default;
};

struct DesiredStatus {
  std::string phase;
  std::string digest;  // the published list, "" when none
  std::vector<PlatformStatus> platforms;
  bool ready = false;
  std::string reason;
  std::string message;
};

struct ObservedStatus {
  Json stored = Json::object();  // .status as stored ({} when none): an unchanged render equals it
  int64_t observed_generation = 0;
  std::string phase;
  std::string digest;                     // the published list, "" when none
  std::vector<PlatformStatus> platforms;  // entries without a platform are left out
  kube::Condition ready;                  // the Ready condition (all "" when none)

  // The entry of `platform` ("linux/arm64"), or nullptr.
  const PlatformStatus* FindPlatform(const std::string& platform) const;
};

// The status of a MultiArchImage object. Fields of the wrong type read as absent.
ObservedStatus ReadObservedStatus(const Json& object);

// The status JSON for `desired` at `generation`; `now` (metav1.Time) is used for
// lastTransitionTime only when the Ready status differs from the observed one.
Json RenderStatus(const DesiredStatus& desired, const ObservedStatus& observed, int64_t generation,
                  const std::string& now);

}  // namespace archway::op
