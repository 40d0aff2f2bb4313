// The admission decision for one Pod, as pure functions (no network, no clock), so that
// every rule of docs/design.md "Architecture" is testable and fuzzable on its own:
//
//   PlanPod   reads the pod, once: what to skip without any look-up, which images to
//             resolve, which pull secrets to use, and the layout of what a patch writes
//             into (its node affinity walked here and nowhere else).
//   Decide    given each image's resolved platforms (or why it could not be resolved),
//             says what to change as a typed Mutation, with warnings, Events, or the
//             denial. It writes no JSON: patch.h turns a Mutation into the JSON Patch, at
//             a Pod's paths or (issue 14) a pod template's.
//
// Rules:
//  - Supported platforms = intersection over the images of their (os, arch) pairs, refined
//    by platform_terms.h (arm variants, arm64 nodes running 32-bit arm, Windows builds:
//    extra terms per (os, arch-group)). Data-only images (no platform) fit every platform.
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
//  - Preferred platforms (options.preferred_platforms, preferred_platforms.h): with an
//    affinity decided, one preferred term {weight, os In [os], arch In [arch]} per
//    preferred platform the images support (CommonPlatforms; never one they lack), in
//    the configured order, appended after the user's own preferred terms.
//
// Pod fields read: metadata.annotations, metadata.labels and spec.schedulingGates (only
// whether they exist: a patch must add into them, not replace them; gates.h reads the
// gates' names),
// spec.initContainers[].image, spec.containers[].image, spec.imagePullSecrets,
// spec.nodeName, spec.nodeSelector, spec.affinity. ParseAdmissionReview (review.cpp)
// builds only these (and metadata.name): a rule that reads another field must add it
// there. (Who made a pod, its generateName and ownerReferences, is read again on demand,
// review.h's ReadPodOrigin.) A DaemonSet's pod template is decided by the same
// functions (webhook/daemonset.h).
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "registry/platform.h"
#include "webhook/config.h"
#include "webhook/preferred_platforms.h"

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
  std::vector<PreferredPlatform> preferred_platforms;  // config preferredPlatforms
};

// Where a patch writes into the pod, as PlanPod found it: which of the objects exist (a
// patch adds a missing one whole, and adds into one that exists) and the required terms.
// `required_terms` views the pod: it stays valid while the pod lives, and when the pod's
// Json is moved (it points below the root).
struct PodLayout {
  bool metadata = false;
  bool annotations = false;
  bool labels = false;
  bool scheduling_gates = false;
  bool affinity = false;
  bool node_affinity = false;
  bool required = false;   // nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
  bool preferred = false;  // nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution
  const Json* required_terms = nullptr;  // its nodeSelectorTerms, when there is at least one
  std::vector<bool> term_pins_arch;      // per required term: names kubernetes.io/arch
};

struct PodPlan {
  // Set when the pod is decided without any look-up.
  std::string skip_reason;
  bool untouched = false;  // skipNamespaces: no patch, no annotation
  std::vector<std::string> images;        // initContainers then containers, unique, in order
  std::vector<std::string> pull_secrets;  // spec.imagePullSecrets[].name
  std::string node_name;                  // spec.nodeName
  PodLayout layout;                       // not read when untouched: nothing is written then
  // metadata.annotations has archway.dev/platforms: maybe a DaemonSet's pod, placed by
  // its template (daemonset.h reads its owner then).
  bool platforms_annotated = false;
};

// kInvalidArgument when a field archway reads has the wrong shape.
Result<PodPlan> PlanPod(const Json& pod, const std::string& ns, const DecisionOptions& options);

struct ImageOutcome {
  enum class State { kResolved, kFailed, kUnfinished };
  std::string image;
  State state = State::kUnfinished;
  std::vector<OsArch> platforms;  // kResolved: runnable platforms
  // kResolved: the runnable manifest-list entries with variant and os.version, which the
  // arm and Windows rules of platform_terms.h read. Empty when only `platforms` is known,
  // or when they would say no more (no 32-bit arm entry and no os.version: the common
  // amd64 + arm64 list, whose copy image_outcome.h spares each cached admission).
  std::vector<registry::Platform> entries;
  bool data_only = false;         // kResolved with no platform: fits every platform
  std::string error;              // kFailed: why
  // kFailed: the failure may pass (a timeout, a network error, HTTP 5xx or 429), as
  // opposed to one that will not (not found, unauthorized, a bad manifest). gates.h.
  bool transient = false;
};

// What the Node cache knows; every field is nullopt when the node check is off.
struct ClusterFacts {
  std::optional<std::set<OsArch>> ready_node_platforms;
  std::optional<OsArch> pinned_node_platform;  // spec.nodeName's node, when known
  // The archway.dev/arm-variant values nodes carry (empty: no node is labelled, the
  // node labeler is not installed); see platform_terms.h.
  std::optional<std::set<std::string>> arm_variant_labels;
};

// One entry of a nodeSelectorTerm's matchExpressions.
struct Requirement {
  std::string key;
  std::string op;                   // In, NotIn, Exists, DoesNotExist, Gt, Lt
  std::vector<std::string> values;  // none for Exists and DoesNotExist
  bool operator==(const Requirement&) const = default;
};

// Requirements ANDed together: what one nodeSelectorTerm demands.
using Requirements = std::vector<Requirement>;

// A preferredDuringSchedulingIgnoredDuringExecution term.
struct PreferredTerm {
  int weight = 1;  // 1-100
  Requirements preference;
};

// What admission changes in a pod. Only additions: nothing the user wrote is removed or
// rewritten. patch.h writes it; the writer needs the pod's PodLayout, nothing else.
struct Mutation {
  // The required node affinity, per existing nodeSelectorTerm in the pod's order (a pod
  // with none has one entry, standing for an empty term): the terms that one becomes, a
  // copy of it per entry with that entry's requirements ANDed into its matchExpressions
  // (a requirement the term already has exactly is not repeated). So archway's terms
  // are crossed with the user's and never widen where the pod may go. A term whose entry
  // is empty, or that has no entry, is kept as written. Empty, or no entry with an
  // addition: not touched.
  std::vector<std::vector<Requirements>> required;
  // Appended after the user's preferred terms.
  std::vector<PreferredTerm> preferred;
  // Appended to spec.schedulingGates (the user's gates are kept).
  std::vector<std::string> scheduling_gates;
  // Set in metadata.annotations and metadata.labels (added, or replacing that key).
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> labels;

  bool empty() const {
    return required.empty() && preferred.empty() && scheduling_gates.empty() && annotations.empty() && labels.empty();
  }
};

// What an admission came to; the metrics label is ResultName().
enum class AdmissionResult {
  kMutated,           // affinity and archway.dev/platforms added
  kSkipped,           // archway.dev/skipped-reason added, no affinity
  kUnchanged,         // skipNamespaces: nothing written
  kNoCommonPlatform,  // the images share no platform (policy pending or ignore)
  kDenied,            // ... and policy deny: refused
  kError,             // an image not inspected (failed, or past the budget), or a malformed pod
  kIgnored,           // not a Pod CREATE (the admitter's; Decide never returns it)
  kBadRequest,        // not an AdmissionReview: HTTP 400 (the admitter's; Decide never returns it)
  kGated,             // look-ups unfinished: held by archway's scheduling gate (gates.h; Decide never returns it)
  kFromTemplate,      // a DaemonSet's pod, placed by its template's affinity: no look-up (daemonset.h)
};
inline constexpr size_t kAdmissionResultCount = 10;
// "mutated", "skipped", "unchanged", "no_common_platform", "denied", "error", "ignored",
// "bad_request", "gated", "from_template".
const char* ResultName(AdmissionResult result);

// A Warning Event to record on the pod (not for dryRun requests).
struct PodEvent {
  std::string reason;  // "NoCommonPlatform"
  std::string note;
};

// The pod is refused with this status.
struct Denial {
  int code = 403;
  std::string reason = "Forbidden";
  std::string message;
};

struct Decision {
  AdmissionResult result = AdmissionResult::kUnchanged;
  Mutation mutation = {};
  std::vector<std::string> warnings = {};
  std::vector<PodEvent> events = {};
  std::optional<Denial> denial = std::nullopt;  // set only with kDenied; then `mutation` is empty
  bool arm_labels_missing = false;  // the arm rules of platform_terms.h were skipped and mattered

  bool allowed() const { return !denial.has_value(); }
};

Decision Decide(const PodPlan& plan, const std::vector<ImageOutcome>& outcomes, const ClusterFacts& facts,
                const DecisionOptions& options);

// Supported platforms: intersection over images (nullopt = every platform: all data-only).
std::optional<std::set<OsArch>> CommonPlatforms(const std::vector<ImageOutcome>& outcomes);

// Text of decisions (also gates.h's): `items` joined by `separator`, and platforms as
// archway.dev/platforms writes them ("linux/amd64,linux/arm64").
std::string Join(const std::vector<std::string>& items, const std::string& separator);
std::string JoinPlatforms(const std::set<OsArch>& platforms);
// What archway ANDs into a term for `platforms` (not empty): one alternative per OS,
// kubernetes.io/os In [os] and kubernetes.io/arch In [its archs], in the set's order.
std::vector<Requirements> PlatformRequirements(const std::set<OsArch>& platforms);

}  // namespace archway::webhook
