// Fuzzes the AdmissionReview -> decision -> JSON Patch path with pre-resolved platforms
// (no network): parsing must never crash, and every patch produced must apply to the pod
// it was made for.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "webhook/decision.h"
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
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto request = ParseAdmissionReview(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!request.ok()) return 0;
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
    Decision decision = Decide(request->object, *plan, outcomes, facts, options);
    (void)EncodeAdmissionResponse(*request, decision);
    if (!decision.patch.empty()) {
      try {
        const Json patch = Json::parse(decision.patch);  // the text must be JSON
        if (patch.dump() != decision.patch) __builtin_trap();
        (void)request->object.patch(patch);
      } catch (const std::exception&) {
        __builtin_trap();  // a patch that does not apply would fail the pod's creation
      }
    }
  }
  return 0;
}
