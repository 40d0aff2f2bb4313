// Scheduling gates on a look-up miss (docs/design.md "Gated pods"), as pure functions:
// what admission adds to a pod whose images could not be looked up within the budget, and
// what the gate controller (gate_controller.h) writes once they have been.
//
// At admission (GateAtAdmission):
//  - a pod is gated when some image's look-up is unfinished or failed transiently (a
//    timeout, a network error, HTTP 5xx or 429: to the user the same as slow), none failed
//    for good (not found, unauthorized, a bad manifest: admitted at once as before, with
//    archway.dev/skipped-reason, since waiting would not change the answer), and
//    spec.nodeName is empty (the API refuses gates on a pod bound to a node);
//  - the answer appends the gate archway.dev/platforms to spec.schedulingGates (the user's
//    gates are kept) and sets the label archway.dev/gated: "true", so that the controller's
//    label-selected watch holds gated pods only;
//  - a pod created already carrying that gate (a manifest copied from a gated pod) is not
//    gated twice (the API refuses duplicate gates): it is only labelled, and the controller
//    places it and lifts the gate like any other (HandOverAtAdmission).
//
// On release (PlanRelease), from the pod as it is now (a user may have changed it while
// it waited: images, nodeSelector, affinity additions):
//  - Decide() as at admission, with policy deny read as pending (a pod cannot be refused
//    once it exists: it waits in Pending instead, and its Event says so);
//  - the affinity is written as the API allows on a gated pod (KEP-3838): with no required
//    node affinity anything may be set (one term per OS, as inline); with required terms
//    only requirements appended to each existing term's matchExpressions (no term added,
//    none changed). When the images' platforms are not a product of OSes and architectures
//    (linux/amd64, linux/arm64 and windows/amd64), the exact answer for a pod with terms
//    would be one term per OS per user term, which cannot be written: the pod is narrowed
//    to the largest product of OSes x architectures inside the images' platforms (never
//    widened beyond them), preferring the one covering most Ready nodes' platforms, and a
//    PlatformsNarrowed Event says what was left out (NarrowToProduct);
//  - look-ups past gateTimeout (counted from creationTimestamp) or failed for good: no
//    affinity, archway.dev/skipped-reason and a NoPlatformAffinity Event;
//  - archway's gate (every entry of that name) and label are removed in the same write;
//    the user's gates, labels and annotations stay;
//  - a pod whose gate someone else removed keeps its scheduling as it is: only archway's
//    label goes (kReleasedElsewhere).
//
// Pods made by controllers have no name at admission, so an Event about them cannot be
// written then (kube/events.h needs a name). The admission answer labels such a pod
// archway.dev/event: <reason> (LabelForPodEvent) and the controller writes the Event once
// the pod exists (PendingPodEvent), then removes the label.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "webhook/decision.h"

namespace archway::webhook {

inline constexpr const char* kGateName = "archway.dev/platforms";
inline constexpr const char* kGatedLabel = "archway.dev/gated";
inline constexpr const char* kEventLabel = "archway.dev/event";

// Event reasons of gated pods (NoCommonPlatform is decision.h's).
inline constexpr const char* kNoPlatformAffinityReason = "NoPlatformAffinity";
inline constexpr const char* kPlatformsNarrowedReason = "PlatformsNarrowed";

// A look-up failure that may pass: kTimeout, kNetwork, kUnavailable (5xx), kRateLimited.
bool IsTransient(ErrorCode code);

// Whether spec.schedulingGates of `pod` (any JSON) holds archway's gate.
bool CarriesGate(const Json& pod);

// The answer for a pod whose look-ups are not all done at the budget, or nullopt when
// the pod is decided now (by Decide(): every image known, one failed for good, or a
// spec.nodeName). `gate_timeout` is only quoted in the warning.
std::optional<Decision> GateAtAdmission(const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                                        std::chrono::milliseconds gate_timeout);

// The answer for a pod created with archway's gate already: the label only.
Decision HandOverAtAdmission();

// For a pod with no name (made by a controller): labels it for each Event of `decision`
// so the controller writes that Event once the pod exists. Only NoCommonPlatform Events
// are handed over (the only kind admission records).
void LabelForPodEvent(Decision& decision);

// What the controller writes to release a gated pod.
enum class GateOutcome {
  kPlaced,             // the images' affinity, archway.dev/platforms
  kNarrowed,           // ... narrowed to a product of OSes x architectures (PlatformsNarrowed Event)
  kNoCommonPlatform,   // the policy's answer (pending: the impossible requirement and an Event)
  kSkipped,            // a reason to skip applies now (annotation, nodeSelector arch, no image)
  kFailed,             // an image failed for good: no affinity, NoPlatformAffinity Event
  kTimedOut,           // gateTimeout passed: no affinity, NoPlatformAffinity Event
  kReleasedElsewhere,  // someone else removed the gate: only the label goes
  kMalformed,          // a field archway reads has the wrong shape: no affinity, Event
};
inline constexpr size_t kGateOutcomeCount = 8;
// "placed", "narrowed", "no_common_platform", "skipped", "failed", "timed_out",
// "released_elsewhere", "malformed" (the metrics label).
const char* GateOutcomeName(GateOutcome outcome);

struct GateRelease {
  GateOutcome outcome = GateOutcome::kPlaced;
  Json pod;                      // the pod to write back (an update of the one given)
  std::vector<PodEvent> events;  // to record on the pod once it is written
  std::string summary;           // for logs: what was applied or why not
};

// The release of gated `pod` (the API's object) in namespace `ns`, given its images'
// outcomes (ImageOutcome per PlanPod image, in order; unknown images kUnfinished). nullopt:
// keep waiting (an image unfinished or failed transiently, and not `timed_out`).
std::optional<GateRelease> PlanRelease(const Json& pod, const std::string& ns, const std::vector<ImageOutcome>& outcomes,
                                       const ClusterFacts& facts, const DecisionOptions& options, bool timed_out,
                                       std::chrono::milliseconds gate_timeout);

// The largest set O x A (OSes x architectures) inside `platforms`; ties go to the one
// covering most of `ready` (the Ready nodes' platforms, when known), then to the first in
// order. Empty when `platforms` is.
std::set<OsArch> NarrowToProduct(const std::set<OsArch>& platforms, const std::optional<std::set<OsArch>>& ready);

// A pod labelled by LabelForPodEvent: the Event to write on it (the note is the pod's
// archway.dev/skipped-reason), or nullopt when the label names no Event archway writes.
std::optional<PodEvent> PendingPodEvent(const Json& pod);

// `pod` without label `key` (an empty labels map removed too).
Json WithoutLabel(Json pod, const std::string& key);

}  // namespace archway::webhook
