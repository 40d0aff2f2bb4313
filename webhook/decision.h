// The admission decision for one Pod, as pure functions (no network, no clock), so that
// every rule of docs/design.md "Architecture" is testable and fuzzable on its own:
//
//   PlanPod   reads the pod: what to skip without any look-up, which images to resolve,
//             which pull secrets to use.
//   Decide    given each image's resolved platforms (or why it could not be resolved),
//             builds the JSON Patch, warnings, annotations, or the denial.
//
// Rules:
//  - Supported platforms = intersection over the images of their (os, arch) pairs; variants
//    do not matter for affinity. Data-only images (no platform) fit every platform.
//  - The requirement is ANDed into every existing required nodeSelectorTerm (terms are
//    ORed: a separate term would widen scheduling); with no terms one term is created.
//    Every term names kubernetes.io/os and kubernetes.io/arch, and images supporting
//    several OSes give one term per OS (per existing term: each existing term x each OS).
//    An os requirement identical to one already in the term is not repeated.
//  - A term that already has a kubernetes.io/arch (or beta.kubernetes.io/arch) requirement
//    is left as written; when every term does, or spec.nodeSelector names the arch, the
//    pod is skipped without look-ups.
//  - spec.nodeName set: not rewritten; a warning when that node's platform (Node cache)
//    is not one the images support.
//  - Annotations: archway.dev/platforms (what was applied) or archway.dev/skipped-reason.
//    Pods in skipNamespaces are not touched at all (no annotation): those namespaces are
//    outside archway's remit. Pods with archway.dev/skip: "true" get the skipped-reason.
//  - An image that could not be inspected (error, or the budget ran out) never yields an
//    affinity: the pod is admitted without one, with a warning saying why.
//  - No common platform: pending -> requirement archway.dev/no-common-platform Exists
//    (no node has it: the pod waits visibly) + warning + Event; deny -> 403 with the
//    reason; ignore -> no affinity, a warning.
//
// Pod fields read: metadata.annotations, spec.initContainers[].image,
// spec.containers[].image, spec.imagePullSecrets, spec.nodeName, spec.nodeSelector,
// spec.affinity. ParseAdmissionReview (review.cpp) builds only these (and
// metadata.name): a rule that reads another field must add it there.
#pragma once

#include <compare>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "webhook/config.h"

namespace archway::webhook {

using Json = nlohmann::json;

inline constexpr const char* kPlatformsAnnotation = "archway.dev/platforms";
inline constexpr const char* kSkippedReasonAnnotation = "archway.dev/skipped-reason";
inline constexpr const char* kSkipAnnotation = "archway.dev/skip";
inline constexpr const char* kNoCommonPlatformKey = "archway.dev/no-common-platform";
inline constexpr const char* kOsLabel = "kubernetes.io/os";
inline constexpr const char* kArchLabel = "kubernetes.io/arch";

// A platform as far as scheduling is concerned.
struct OsArch {
  std::string os;
  std::string arch;
  std::string String() const { return os + "/" + arch; }
  auto operator<=>(const OsArch&) const = default;
};

struct DecisionOptions {
  NoCommonPlatformPolicy policy = NoCommonPlatformPolicy::kPending;
  std::vector<std::string> skip_namespaces;
};

struct PodPlan {
  // Set when the pod is decided without any look-up.
  std::string skip_reason;
  bool untouched = false;  // skipNamespaces: no patch, no annotation
  std::vector<std::string> images;        // initContainers then containers, unique, in order
  std::vector<std::string> pull_secrets;  // spec.imagePullSecrets[].name
  std::string node_name;                  // spec.nodeName
};

// kInvalidArgument when a field archway reads has the wrong shape.
Result<PodPlan> PlanPod(const Json& pod, const std::string& ns, const DecisionOptions& options);

struct ImageOutcome {
  enum class State { kResolved, kFailed, kUnfinished };
  std::string image;
  State state = State::kUnfinished;
  std::vector<OsArch> platforms;  // kResolved: runnable platforms
  bool data_only = false;         // kResolved with no platform: fits every platform
  std::string error;              // kFailed: why
};

// What the Node cache knows; every field is nullopt when the node check is off.
struct ClusterFacts {
  std::optional<std::set<OsArch>> ready_node_platforms;
  std::optional<OsArch> pinned_node_platform;  // spec.nodeName's node, when known
};

struct Decision {
  bool allowed = true;
  int status_code = 0;          // when denied
  std::string status_reason;    // "Forbidden"
  std::string status_message;
  // The JSON Patch as compact JSON text (as Json::dump writes it); "" = unchanged.
  std::string patch;
  std::vector<std::string> warnings;
  // For metrics: mutated | skipped | unchanged | no_common_platform | denied | error.
  std::string result;
  // pending policy: an Event should be recorded with this note.
  std::optional<std::string> event_note;
};

Decision Decide(const Json& pod, const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                const ClusterFacts& facts, const DecisionOptions& options);

// Supported platforms: intersection over images (nullopt = every platform: all data-only).
std::optional<std::set<OsArch>> CommonPlatforms(const std::vector<ImageOutcome>& outcomes);

// RFC 6901 escaping of one reference token ("archway.dev/skip" -> "archway.dev~1skip").
std::string EscapeJsonPointerToken(const std::string& token);

}  // namespace archway::webhook
