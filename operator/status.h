// The status of a MultiArchImage: what is stored (ObservedStatus, read once per
// reconcile, never throwing), what the reconciler wants it to say (DesiredStatus), and
// the JSON written through the status subresource. Rendering keeps each condition's
// lastTransitionTime when its status did not change, and every other timestamp is
// carried by the planner, so an unchanged state renders to exactly the stored JSON and
// the reconciler can skip the write.
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
inline constexpr const char* kBuilderImageUnavailable = "BuilderImageUnavailable";  // no build for the platform
inline constexpr const char* kEmulationUnavailable = "EmulationUnavailable";  // no QEMU handler on the node
}  // namespace reason

// The BaseImageUnavailable condition (only on resources that follow base images): True
// when a followed base cannot be resolved or a build could not report its bases. It never
// makes a published image un-Ready.
namespace condition {
inline constexpr const char* kReady = "Ready";
inline constexpr const char* kBaseImageUnavailable = "BaseImageUnavailable";
}  // namespace condition
namespace base_reason {
inline constexpr const char* kResolved = "Resolved";              // False: every base resolved
inline constexpr const char* kPending = "Pending";                // False: none recorded yet
inline constexpr const char* kResolveFailed = "ResolveFailed";    // a registry error, retried on resync
inline constexpr const char* kNotReported = "NotReported";        // a build did not say what it used
}  // namespace base_reason

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
  std::string reason{};       // why it waits or failed (a Ready reason), "" otherwise
  std::string base_report{};  // followBaseImages: what its Job reported ("" = not read yet)

  bool operator==(const PlatformStatus&) const = default;
};

// A followed base image, per platform of the resource.
struct BaseImagePlatform {
  std::string platform;  // "linux/arm64"
  std::string digest;    // the manifest the current build is based on ("" = not known)
  std::string latest;    // what the tag holds for it now, when that differs and is not rebuilt (yet)

  bool operator==(const BaseImagePlatform&) const = default;
};

struct BaseImageStatus {
  std::string image;   // as followed: spec.build.baseImages[i], or the name a build reported
  std::string digest;  // what the tag pointed at (a list or one manifest) when `platforms` were read
  std::string latest;  // what it points at now, when that differs (see BaseImagePlatform::latest)
  std::vector<BaseImagePlatform> platforms;  // in spec.platforms order
  std::string last_changed;  // metav1.Time: when these digests were recorded (first, or changed)

  const BaseImagePlatform* FindPlatform(const std::string& platform) const;
  bool operator==(const BaseImageStatus&) const = default;
};

// The last run started because a base image changed; `time` spaces such runs out.
struct BaseRebuild {
  std::string time;     // metav1.Time
  std::string message;  // "base debian:12-slim linux/arm64 changed sha256:... -> sha256:..."
  std::string run;      // the run's hash, the suffix of its Job names

  bool empty() const { return time.empty(); }
  bool operator==(const BaseRebuild&) const = default;
};

// A condition besides Ready.
struct ConditionState {
  std::string type;
  bool status = false;
  std::string reason;
  std::string message;

  bool operator==(const ConditionState&) const = default;
};

struct DesiredStatus {
  std::string phase;
  std::string digest;  // the published list, "" when none
  std::vector<PlatformStatus> platforms;
  bool ready = false;
  std::string reason;
  std::string message;
  std::vector<BaseImageStatus> base_images{};  // sorted by image
  BaseRebuild last_base_rebuild{};
  std::vector<ConditionState> conditions{};    // rendered after Ready, in this order
};

struct ObservedStatus {
  Json stored = Json::object();  // .status as stored ({} when none): an unchanged render equals it
  int64_t observed_generation = 0;
  std::string phase;
  std::string digest;                     // the published list, "" when none
  std::vector<PlatformStatus> platforms;  // entries without a platform are left out
  kube::Condition ready;                  // the Ready condition (all "" when none)
  std::vector<kube::Condition> conditions;   // all of them, Ready included
  std::vector<BaseImageStatus> base_images;  // entries without an image are left out
  BaseRebuild last_base_rebuild;

  // The entry of `platform` ("linux/arm64"), or nullptr.
  const PlatformStatus* FindPlatform(const std::string& platform) const;
  const BaseImageStatus* FindBaseImage(const std::string& image) const;
  const kube::Condition* FindCondition(const std::string& type) const;
};

// The status of a MultiArchImage object. Fields of the wrong type read as absent.
ObservedStatus ReadObservedStatus(const Json& object);

// The status JSON for `desired` at `generation`; `now` (metav1.Time) is used for a
// condition's lastTransitionTime only when its status differs from the observed one.
Json RenderStatus(const DesiredStatus& desired, const ObservedStatus& observed, int64_t generation,
                  const std::string& now);

}  // namespace archway::op
