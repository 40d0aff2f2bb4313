#include "check/evaluate.h"

#include <algorithm>

#include "check/join.h"
#include "webhook/image_outcome.h"
#include "webhook/patch.h"

namespace archway::check {
namespace {

using webhook::ImageOutcome;

int ArmVariantNumber(const std::string& variant) {
  if (variant.size() == 2 && variant[0] == 'v' && variant[1] >= '0' && variant[1] <= '9') return variant[1] - '0';
  return 0;
}

const Json* ArrayMember(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_array() ? &*it : nullptr;
}

std::vector<std::string> PlatformStrings(const registry::ImagePlatforms& platforms) {
  std::vector<std::string> out;
  for (const auto& platform : platforms.platforms) {
    if (registry::IsRunnable(platform)) out.push_back(platform.String());
  }
  return out;
}

bool RunsOn(const ImageInfo& info, const registry::Platform& target) {
  if (info.outcome.data_only) return true;
  return std::any_of(info.platforms->platforms.begin(), info.platforms->platforms.end(),
                     [&](const registry::Platform& image) { return registry::IsRunnable(image) && Runs(image, target); });
}

// `outcomes`: one per image of ImagesOf(), in its order (PlanPod's, here too).
WebhookView WebhookAnswer(const Workload& workload, const std::vector<ImageOutcome>& all_outcomes,
                          const EvaluateOptions& options) {
  WebhookView view;
  auto plan = webhook::PlanPod(workload.Pod(), workload.ns, options.decision);
  if (!plan.ok()) {  // ImagesOf() read the same fields: only a skipped namespace gets here
    view.result = webhook::AdmissionResult::kError;
    view.warnings.push_back("archway: node affinity not set: " + plan.error().message);
    return view;
  }
  std::vector<ImageOutcome> outcomes;
  // As the admitter: a pod it decides without look-ups is decided without outcomes (a
  // pod pinned to a node is only checked against that node when Nodes are known).
  const bool node_check = options.facts.ready_node_platforms.has_value();
  if (plan->skip_reason.empty() && (plan->node_name.empty() || node_check)) outcomes = all_outcomes;
  const webhook::Decision decision = webhook::Decide(*plan, outcomes, options.facts, options.decision);
  view.result = decision.result;
  view.annotations = decision.mutation.annotations;
  view.warnings = decision.warnings;
  if (decision.denial) view.denial = decision.denial->message;
  view.patch = webhook::WritePatch(decision.mutation, plan->layout, webhook::PatchTarget{workload.pod_path});
  try {
    const Json patched = view.patch.empty() ? workload.object : workload.object.patch(Json::parse(view.patch));
    const Json::json_pointer at(workload.pod_path + "/spec/affinity/nodeAffinity");
    if (patched.contains(at)) view.node_affinity = patched.at(at);
  } catch (const Json::exception& e) {
    view.warnings.push_back(std::string("archway check: the patch does not apply to the manifest: ") + e.what());
  }
  return view;
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kRuns: return "yes";
    case Verdict::kDoesNotRun: return "no";
    case Verdict::kUnknown: break;
  }
  return "unknown";
}

bool Runs(const registry::Platform& image, const registry::Platform& node) {
  if (image.os != node.os || image.architecture != node.architecture) return false;
  if (node.architecture != "arm") return true;
  const int image_variant = ArmVariantNumber(image.variant);
  const int node_variant = ArmVariantNumber(node.variant);
  return image_variant == 0 || node_variant == 0 || image_variant <= node_variant;
}

bool WorkloadResult::RunsEverywhere() const {
  if (!problem.empty() || !resolved) return false;
  if (targets.empty()) return !shared || !shared->empty();
  return std::all_of(targets.begin(), targets.end(), [](const TargetResult& t) { return t.verdict == Verdict::kRuns; });
}

bool WorkloadResult::RunsSomewhere() const {
  if (!problem.empty()) return false;
  if (targets.empty()) return RunsEverywhere();
  return std::any_of(targets.begin(), targets.end(), [](const TargetResult& t) { return t.verdict == Verdict::kRuns; });
}

Result<std::vector<std::string>> ImagesOf(const Workload& workload) {
  const Json& pod = workload.Pod();
  // No skipped namespaces here: which platforms a workload needs does not depend on them.
  auto plan = webhook::PlanPod(pod, workload.ns, webhook::DecisionOptions{});
  if (!plan.ok()) return plan.error();
  if (!plan->images.empty()) return std::move(plan->images);
  const std::string what = workload.pod_path.empty() ? "the pod" : "the pod template";
  const Json* spec = pod.is_object() && pod.contains("spec") ? &pod["spec"] : nullptr;
  const Json* containers = spec ? ArrayMember(*spec, "containers") : nullptr;
  if (containers == nullptr || containers->empty()) return Error(ErrorCode::kInvalidArgument, what + " has no containers");
  return Error(ErrorCode::kInvalidArgument, "no container of " + what + " names an image");
}

WorkloadResult Evaluate(const Workload& workload, const ImageTable& images,
                        const std::vector<registry::Platform>& targets, const EvaluateOptions& options) {
  WorkloadResult result;
  auto names = ImagesOf(workload);
  if (!names.ok()) {
    result.problem = names.error().message;
    return result;
  }
  std::vector<ImageOutcome> outcomes;
  for (const auto& name : *names) {
    auto it = images.find(name);
    ImageInfo info = it != images.end() ? it->second
                                        : ImageInfo{name, std::nullopt, webhook::FailedOutcome(name, "not looked up")};
    if (info.outcome.state != ImageOutcome::State::kResolved) info.platforms.reset();
    outcomes.push_back(info.outcome);
    result.images.push_back(std::move(info));
  }
  result.resolved = std::all_of(result.images.begin(), result.images.end(),
                                [](const ImageInfo& info) { return info.platforms.has_value(); });
  if (result.resolved) result.shared = webhook::CommonPlatforms(outcomes);

  std::map<std::string, std::vector<std::string>> lacking_by_image;
  for (const auto& target : targets) {
    TargetResult& verdict = result.targets.emplace_back();
    verdict.platform = target;
    for (const auto& info : result.images) {
      if (!info.platforms) {
        verdict.unresolved.push_back(info.image);
      } else if (!RunsOn(info, target)) {
        verdict.lacking.push_back(info.image);
        lacking_by_image[info.image].push_back(target.String());
      }
    }
    verdict.verdict = !verdict.lacking.empty()      ? Verdict::kDoesNotRun
                      : !verdict.unresolved.empty() ? Verdict::kUnknown
                                                    : Verdict::kRuns;
  }

  for (const auto& info : result.images) {
    if (!info.platforms) {
      result.reasons.push_back("could not resolve " + info.image + ": " + info.outcome.error);
    } else if (auto it = lacking_by_image.find(info.image); it != lacking_by_image.end()) {
      result.reasons.push_back(info.image + " has no " + Join(it->second) + " (it is built for " +
                               Join(PlatformStrings(*info.platforms)) + ")");
    }
  }
  if (targets.empty() && result.shared && result.shared->empty()) {
    std::vector<std::string> each;
    for (const auto& info : result.images) {
      if (!info.outcome.data_only) each.push_back(info.image + " (" + Join(PlatformStrings(*info.platforms)) + ")");
    }
    result.reasons.push_back("the images share no platform: " + Join(each, "; "));
  }
  result.webhook = WebhookAnswer(workload, outcomes, options);
  return result;
}

}  // namespace archway::check
