// Fuzzes the AdmissionReview -> plan -> decision -> JSON Patch path with pre-resolved
// platforms (no network): parsing must never crash, and every patch written must be JSON
// exactly as Json::dump writes it and must apply to the pod it was made for, including
// mutations Decide does not make yet (scheduling gates, labels, preferred terms: the
// writer is the same for them). DaemonSet reviews go through the template's decision.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "webhook/daemonset.h"
#include "webhook/decision.h"
#include "webhook/patch.h"
#include "webhook/review.h"

using namespace archway::webhook;

namespace {

// Deterministic "registry answers" derived from the image name.
ImageOutcome Outcome(const std::string& image) {
  static const std::vector<std::vector<OsArch>> kSets = {
      {{"linux", "amd64"}},
      {{"linux", "amd64"}, {"linux", "arm64"}},
      {{"linux", "arm64"}, {"linux", "arm"}},
      {{"linux", "amd64"}, {"windows", "amd64"}},
      {{"windows", "amd64"}},
  };
  ImageOutcome outcome;
  outcome.image = image;
  const size_t h = std::hash<std::string>{}(image);
  switch (h % 8) {
    case 5:
      outcome.state = ImageOutcome::State::kFailed;
      outcome.error = "unauthorized";
      break;
    case 6:
      outcome.state = ImageOutcome::State::kUnfinished;
      break;
    case 7:
      outcome.state = ImageOutcome::State::kResolved;
      outcome.data_only = true;
      break;
    default:
      outcome.state = ImageOutcome::State::kResolved;
      outcome.platforms = kSets[h % 8 % kSets.size()];
      // With the entries' variants and Windows builds (platform_terms.h), or without.
      static const std::vector<std::vector<archway::registry::Platform>> kEntries = {
          {{"linux", "arm", "v7", ""}},
          {{"linux", "arm", "v6", ""}, {"linux", "arm", "v7", ""}, {"linux", "amd64", "", ""}},
          {{"linux", "arm64", "", ""}, {"linux", "arm", "v8", ""}},
          {{"windows", "amd64", "", "10.0.17763.2803"}, {"windows", "amd64", "", "10.0.20348.643"}},
          {{"windows", "amd64", "", "10.0.17763.1"}, {"linux", "arm", "v5", ""}},
      };
      if (h / 8 % 2 == 0) {
        outcome.entries = kEntries[h / 16 % kEntries.size()];
        outcome.platforms.clear();
        for (const auto& e : outcome.entries) {
          if (std::find(outcome.platforms.begin(), outcome.platforms.end(), OsArch{e.os, e.architecture}) ==
              outcome.platforms.end()) {
            outcome.platforms.push_back(OsArch{e.os, e.architecture});
          }
        }
      }
  }
  return outcome;
}

// Traps unless `text` is canonical JSON that applies to `pod`.
void CheckPatch(const Json& pod, const std::string& text) {
  if (text.empty()) return;
  try {
    const Json patch = Json::parse(text);  // the text must be JSON
    if (patch.dump() != text) __builtin_trap();
    (void)pod.patch(patch);
  } catch (const std::exception&) {
    __builtin_trap();  // a patch that does not apply would fail the pod's creation
  }
}

// What later features add, on top of the decision's own mutation.
Mutation WithEverything(Mutation mutation, const std::string& seed) {
  mutation.scheduling_gates.push_back("archway.dev/platforms");
  mutation.labels.emplace("archway.dev/gated", seed);
  mutation.annotations.emplace(seed, "x");
  mutation.preferred.push_back(PreferredTerm{50, {Requirement{kArchLabel, "In", {"arm64", seed}}}});
  return mutation;
}

// A DaemonSet CREATE/UPDATE (daemonset.h): the template's patch must apply to the
// DaemonSet. (That a stored template updated without a change gets no patch holds for
// templates the apiserver accepts, not for every fuzzed shape: daemonset_test.cpp.)
void CheckDaemonSet(const AdmissionRequest& request, const DecisionOptions& options) {
  auto plan = PlanDaemonSet(request.object, request.old_object, request.ns, options);
  if (!plan.ok()) return;
  std::vector<ImageOutcome> outcomes;
  if (plan->NeedsLookUp()) {
    for (const auto& image : plan->pod.images) outcomes.push_back(Outcome(image));
  }
  ClusterFacts facts;
  facts.ready_node_platforms = std::set<OsArch>{{"linux", "amd64"}, {"linux", "arm"}};
  const std::vector<NodeLabels> nodes = {
      {"pi", {{kOsLabel, "linux"}, {kArchLabel, "arm"}}}, {"amd", {{kOsLabel, "linux"}, {kArchLabel, "amd64"}}}, {"bare", {}}};
  TemplateDecision decided = DecideTemplate(*plan, outcomes, facts, &nodes, options);
  (void)EncodeAdmissionResponse(request, decided.decision, decided.patch);
  CheckPatch(request.object, decided.patch);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto request = ParseAdmissionReview(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!request.ok()) return 0;
  if (request->IsDaemonSet()) {
    for (auto policy : {NoCommonPlatformPolicy::kPending, NoCommonPlatformPolicy::kDeny, NoCommonPlatformPolicy::kIgnore}) {
      DecisionOptions options;
      options.policy = policy;
      options.skip_namespaces = {"kube-system"};
      CheckDaemonSet(*request, options);
    }
    return 0;
  }
  for (auto policy : {NoCommonPlatformPolicy::kPending, NoCommonPlatformPolicy::kDeny, NoCommonPlatformPolicy::kIgnore}) {
    DecisionOptions options;
    options.policy = policy;
    options.skip_namespaces = {"kube-system"};
    auto plan = PlanPod(request->object, request->ns, options);
    if (!plan.ok()) continue;
    std::vector<ImageOutcome> outcomes;
    if (plan->skip_reason.empty()) {
      for (const auto& image : plan->images) outcomes.push_back(Outcome(image));
    }
    ClusterFacts facts;
    facts.ready_node_platforms = std::set<OsArch>{{"linux", "amd64"}};
    facts.pinned_node_platform = OsArch{"linux", "arm64"};
    // The node labeler not known, not installed, or on the nodes.
    if (plan->images.size() % 3 == 1) facts.arm_variant_labels = std::set<std::string>{};
    if (plan->images.size() % 3 == 2) facts.arm_variant_labels = std::set<std::string>{"v6", "v7", "v8"};
    Decision decision = Decide(*plan, outcomes, facts, options);
    if (!decision.allowed() && !decision.mutation.empty()) __builtin_trap();  // a denial changes nothing
    const std::string patch = WritePatch(decision.mutation, plan->layout);
    (void)EncodeAdmissionResponse(*request, decision, patch);
    CheckPatch(request->object, patch);
    if (plan->untouched) {  // skipNamespaces: the pod is not read, and nothing is written to it
      if (!patch.empty()) __builtin_trap();
      continue;
    }
    const std::string seed = plan->images.empty() ? std::string("~/") : plan->images.front();
    CheckPatch(request->object, WritePatch(WithEverything(decision.mutation, seed), plan->layout));
  }
  return 0;
}
