// One workload against the target platforms, as a pure function of what the registries
// said about its images:
//  - the platforms its images share ((os, arch), as the webhook intersects them:
//    webhook::CommonPlatforms);
//  - per target platform whether its pods can run there: every image has a build a node
//    of that platform runs (same os and architecture; a 32-bit arm node runs its own
//    variant and older ones, as containerd selects them: arm/v7 runs v7, v6 and v5);
//    "unknown" when an image could not be resolved and none of the others rules it out;
//  - the reasons, one line each ("ghcr.io/x/agent:1.2 has no linux/arm64");
//  - what the webhook would do to its pods: PlanPod -> Decide -> WritePatch at the pod
//    template's path, the webhook's own code (decision.h, patch.h), and the node affinity
//    that patch gives the template.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "check/manifests.h"
#include "registry/platform.h"
#include "registry/resolver.h"
#include "webhook/decision.h"

namespace archway::check {

// What resolving one image reference found.
struct ImageInfo {
  std::string image;
  std::optional<registry::ImagePlatforms> platforms;  // set when it resolved
  webhook::ImageOutcome outcome;                      // the decision's view (image_outcome.h)
};
using ImageTable = std::map<std::string, ImageInfo>;  // by image reference as written

enum class Verdict { kRuns, kDoesNotRun, kUnknown };
const char* VerdictName(Verdict verdict);  // "yes", "no", "unknown"

// Whether a node of platform `node` runs an image built for `image` (the rule above).
bool Runs(const registry::Platform& image, const registry::Platform& node);

struct TargetResult {
  registry::Platform platform;
  Verdict verdict = Verdict::kUnknown;
  std::vector<std::string> lacking;     // images with no build for it
  std::vector<std::string> unresolved;  // images that could not be resolved
};

// What the webhook would answer for one of the workload's pods.
struct WebhookView {
  webhook::AdmissionResult result = webhook::AdmissionResult::kUnchanged;
  std::string patch;  // JSON Patch at the pod's path in the workload ("" when none)
  Json node_affinity;  // the pod's spec.affinity.nodeAffinity with the patch applied; null when none
  std::map<std::string, std::string> annotations;  // what the patch sets on the pod
  std::vector<std::string> warnings;
  std::string denial;  // the message when the pod would be refused
};

struct WorkloadResult {
  // Set when the pod cannot be evaluated (malformed, no containers); nothing else is then.
  std::string problem;
  std::vector<ImageInfo> images;  // init containers then containers, each image once
  bool resolved = false;          // every image resolved
  // The (os, arch) pairs every image supports; nullopt when none declares a platform
  // (data-only images fit every node) or when an image did not resolve.
  std::optional<std::set<webhook::OsArch>> shared;
  std::vector<TargetResult> targets;  // in the order given
  std::vector<std::string> reasons;
  WebhookView webhook;

  // Runs on every target (with none: its images resolved and share a platform).
  bool RunsEverywhere() const;
  // Runs on at least one target (with none: as RunsEverywhere).
  bool RunsSomewhere() const;
};

struct EvaluateOptions {
  webhook::DecisionOptions decision;  // the webhook's policy and skipped namespaces
  webhook::ClusterFacts facts;        // Ready nodes, when the targets are a cluster's
};

// The images of the workload's pod, in PlanPod's order; kInvalidArgument when the pod is
// malformed where the webhook reads it, or names no image.
Result<std::vector<std::string>> ImagesOf(const Workload& workload);

// `images` must hold every image ImagesOf() named.
WorkloadResult Evaluate(const Workload& workload, const ImageTable& images,
                        const std::vector<registry::Platform>& targets, const EvaluateOptions& options);

}  // namespace archway::check
