// The Admitter's DaemonSet path (admitter.h; AdmitDaemonSet, which shares the pod path's
// look-ups, is in admitter.cpp): the decision of a DaemonSet's pod template
// (daemonset.h) as an answer, and what must happen after the answer handed to the
// TemplatePatcher.
#include <algorithm>

#include "base/log.h"
#include "webhook/admitter.h"
#include "webhook/daemonset.h"
#include "webhook/review.h"
#include "webhook/template_patcher.h"

namespace archway::webhook {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool AnyUnfinished(const std::vector<ImageOutcome>& outcomes) {
  return std::any_of(outcomes.begin(), outcomes.end(),
                     [](const ImageOutcome& o) { return o.state == ImageOutcome::State::kUnfinished; });
}

}  // namespace

HttpResponse Admitter::DecidedDaemonSet(const AdmissionRequest& request, const TemplatePlan& plan,
                                        const std::vector<ImageOutcome>& outcomes, Clock::time_point start) {
  ClusterFacts facts;
  std::vector<NodeLabels> nodes;
  const bool node_check = deps_.nodes != nullptr && deps_.nodes->HasSynced();
  if (node_check) {
    facts.ready_node_platforms = deps_.nodes->ReadyPlatforms();
    nodes = deps_.nodes->ReadyNodes();
  }
  const NamespaceOptions decide_with = OptionsForNamespace(options_.decision, request.ns, deps_.namespaces);
  TemplateDecision decided = DecideTemplate(plan, outcomes, facts, node_check ? &nodes : nullptr, decide_with.options());
  Decision& decision = decided.decision;
  if (!decide_with.warning().empty() && !plan.pod.untouched && plan.pod.skip_reason.empty()) {
    decision.warnings.push_back(decide_with.warning());  // as a pod's: not when it is skipped
  }
  const bool side_effects = !request.dry_run && deps_.templates != nullptr && !request.name.empty();
  if (AnyUnfinished(outcomes) && side_effects) {
    decision.warnings.push_back(
        "archway: the DaemonSet's template gets its node affinity once the look-up finishes (one more rollout)");
  }
  if (side_effects) {
    std::vector<DaemonSetEvent> events;
    for (const PodEvent& event : decision.events) events.push_back({"Warning", event.reason, event.note});
    if (decided.placement_changed && decided.skipped.Count() > 0) {
      events.push_back({"Normal", kSkipsNodesReason, decided.skipped.note});
    }
    if (!events.empty()) deps_.templates->Report(request.ns, request.name, plan.pod.images, std::move(events));
  }
  if (deps_.metrics && decided.skipped.counted && !request.dry_run && !request.name.empty()) {
    deps_.metrics->DaemonSetSkippedNodes(request.ns, request.name, decided.skipped.Count());
  }
  if (decision.result == AdmissionResult::kError || decision.result == AdmissionResult::kNoCommonPlatform ||
      decision.result == AdmissionResult::kDenied) {
    log::Info("DaemonSet admitted without platform affinity",
              {{"namespace", request.ns}, {"daemonset", request.name}, {"result", ResultName(decision.result)},
               {"warnings", decision.warnings.empty() ? std::string() : decision.warnings.front()}});
  } else if (!decided.skipped.note.empty() && decided.placement_changed) {
    log::Info("DaemonSet placed", {{"namespace", request.ns}, {"daemonset", request.name}, {"note", decided.skipped.note}});
  }
  HttpResponse answer{200, EncodeAdmissionResponse(request, decision, decided.patch), "application/json"};
  if (deps_.metrics) deps_.metrics->Admission(decision.result, SecondsSince(start));
  return answer;
}

void Admitter::PlaceLater(const AdmissionRequest& request) {
  if (request.dry_run || deps_.templates == nullptr) return;
  if (request.name.empty()) {
    log::Warn("DaemonSet without a name admitted before its look-up finished: its template is placed at its next update",
              {{"namespace", request.ns}});
    return;
  }
  deps_.templates->Place(request.ns, request.name);
}

}  // namespace archway::webhook
