// DaemonSets (issue 14): the pod decision (decision.h) applied to a DaemonSet's pod
// template, so that the DaemonSet controller, which honours the template's required node
// affinity when it chooses nodes, never makes a pod for a node its images cannot run on;
// and the pod path's short cut for the pods it makes. Pure functions, as decision.h's.
//
// archway's requirement on a template is what Decide writes into a pod: the annotation
// archway.dev/platforms on spec.template.metadata and, ANDed into the template's required
// terms as their last expressions, per OS of those platforms kubernetes.io/os In [os] and
// kubernetes.io/arch In [its archs] (PlatformRequirements); or, under the pending policy,
// archway.dev/no-common-platform Exists.
//
// Rules:
//  - CREATE: the template is planned and decided as a pod is (skip rules, the opt-out
//    annotation archway.dev/skip on the template, the policy), and patched at
//    /spec/template (patch.h).
//  - UPDATE: archway's earlier requirement and preferred terms are taken out of the
//    template first (for the platforms named by archway.dev/platforms on the template sent
//    or on the one stored), so what is left is what the user wrote, and the template is
//    decided again (with the preferred platforms that apply now, namespace_preferences.h):
//     - the same images (initContainers and containers) as the stored template, which
//       carries archway.dev/platforms: decided from those platforms, without a look-up;
//     - otherwise looked up, as on CREATE.
//    The patch is sent only when it changes the template: an update that keeps the images
//    and archway's requirement gets none, so it starts no rollout (and `generation` stays).
//    With the images unchanged only a change of the affinity or of archway.dev/platforms is
//    written, never a new archway.dev/skipped-reason alone.
//    So a user's edit of the affinity is kept (archway's requirement is ANDed into the terms
//    as they now are), and a requirement removed while the annotation stayed is put back
//    (the stored template is then unchanged: no rollout).
//  - Pods of a DaemonSet (a controller ownerReference to an apps/v1 DaemonSet) that carry
//    archway.dev/platforms are not resolved again. The DaemonSet controller copied the
//    annotation from the template and replaced the pod's required affinity with one term
//    naming its node, a node it had checked against the template's affinity (Kubernetes'
//    pkg/controller/daemon: nodeShouldRunDaemonPod, ReplaceDaemonSetPodNodeNameNodeAffinity).
//    A pod of any other owner that carries the annotation is decided as any pod.
//  - Indistinguishable, so taken for archway's: a term's last expressions equal to exactly
//    what archway writes (a kubernetes.io/os In [os] just before archway's arch
//    expression, or a user's only arch pin identical to archway's). They come back when
//    the images keep those platforms. Archway's preferred terms are the run at the end of
//    the stored template's list each exactly {weight, os In [os], arch In [arch]} for one
//    of those platforms (at most one per platform), taken out of the template sent only
//    when its list ends with exactly those terms (a manifest re-applied without them keeps
//    all of its own); they come back while the preferred platforms that apply name them.
//
// Fields read: those of decision.h, of spec.template, and of the stored template
// (request.oldObject) its images and annotations; review.cpp builds them.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "webhook/cluster.h"
#include "webhook/decision.h"

namespace archway::webhook {

inline constexpr const char* kSkipsNodesReason = "SkipsNodes";

struct TemplatePlan {
  TemplatePlan() = default;
  TemplatePlan(TemplatePlan&&) = default;
  TemplatePlan& operator=(TemplatePlan&&) = default;
  TemplatePlan(const TemplatePlan&) = delete;  // `pod` views `stripped`: a copy would view the original's
  TemplatePlan& operator=(const TemplatePlan&) = delete;

  Json sent;      // spec.template as the review sent it (the fields the review reader builds)
  Json stripped;  // the same without archway's earlier requirement: what the user wrote
  PodPlan pod;    // PlanPod(stripped); its layout views `stripped`
  bool images_unchanged = false;  // an UPDATE whose template has the stored template's images
  // The images are unchanged and the stored template carries archway.dev/platforms: the
  // decision needs no look-up.
  std::optional<std::set<OsArch>> known_platforms;

  bool NeedsLookUp() const { return !pod.untouched && pod.skip_reason.empty() && !known_platforms; }
};

// `daemon_set` is request.object, `stored` request.oldObject (null on CREATE).
// kInvalidArgument when a field archway reads has the wrong shape.
Result<TemplatePlan> PlanDaemonSet(const Json& daemon_set, const Json& stored, const std::string& ns,
                                   const DecisionOptions& options);

// The Ready nodes the template's affinity now excludes because of archway: nodes that
// its nodeSelector and the user's own terms admit, but the terms with archway's
// requirement do not. Taints are not considered.
struct SkippedNodes {
  bool counted = false;                       // the template got archway's affinity and the nodes were known
  std::map<std::string, size_t> by_platform;  // "linux/arm" -> nodes; "" for nodes without os/arch labels
  size_t Count() const;
  // "skips 3 linux/arm nodes: image reg.lan/x:1 has no linux/arm build" ("" when none).
  std::string note;
};

struct TemplateDecision {
  Decision decision;
  std::string patch;  // JSON Patch text at /spec/template; "" = the template is left as sent
  bool placement_changed = false;  // the patch changes the template's required node affinity
  SkippedNodes skipped;            // counted when the template gets archway's affinity and `nodes` is given
};

// `outcomes` as for Decide (none needed when !plan.NeedsLookUp()); `nodes` may be null.
// The warnings and Events speak of the DaemonSet, not of a pod. Events are only given
// with a patch (an update that changes nothing records none again).
TemplateDecision DecideTemplate(const TemplatePlan& plan, const std::vector<ImageOutcome>& outcomes,
                                const ClusterFacts& facts, const std::vector<NodeLabels>* nodes,
                                const DecisionOptions& options);

// A pod that carries archway.dev/platforms (PodPlan::platforms_annotated) whose
// controller (metadata.ownerReferences of `pod`, e.g. review.h's ReadPodOrigin) is an
// apps/v1 DaemonSet.
bool PlacedByDaemonSetTemplate(const Json& pod);

// "linux/amd64,linux/arm64" -> the set; nullopt unless every item is os/arch.
std::optional<std::set<OsArch>> ParsePlatforms(std::string_view annotation);

// Whether a node with `name` and `labels` satisfies `node_selector` (spec.nodeSelector,
// may be null) and `terms` (required nodeSelectorTerms, null = no required affinity), as
// the scheduler and the DaemonSet controller match them: terms are ORed, an empty term
// matches nothing, matchFields knows metadata.name.
bool NodeMatches(const std::string& name, const std::map<std::string, std::string>& labels,
                 const Json* node_selector, const Json* terms);

}  // namespace archway::webhook
