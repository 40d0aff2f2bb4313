#include "webhook/decision.h"

#include <algorithm>
#include <iterator>

#include "webhook/platform_terms.h"
#include "webhook/json_depth.h"

namespace archway::webhook {
namespace {

Error Malformed(const std::string& what) { return Error(ErrorCode::kInvalidArgument, "pod: " + what); }

// obj[key] when obj is an object holding a non-null key, else nullptr.
const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Moves `at` to its member `key` (nullptr when absent or null), noting whether it is
// there; an error naming `where` when it is there but not an object.
Status Enter(const Json*& at, const char* key, const char* where, bool& exists) {
  at = Member(*at, key);
  exists = at != nullptr;
  if (at && !at->is_object()) return Malformed(std::string(where) + " is not an object");
  return Status::Ok();
}

bool IsArchKey(const std::string& key) { return key == kArchLabel || key == "beta.kubernetes.io/arch"; }

// A nodeSelectorTerm "pins" the architecture when one of its expressions names it.
bool TermPinsArch(const Json& term) {
  const Json* expressions = Member(term, "matchExpressions");
  if (!expressions || !expressions->is_array()) return false;
  for (const auto& expression : *expressions) {
    const Json* key = Member(expression, "key");
    if (key && key->is_string() && IsArchKey(key->get<std::string>())) return true;
  }
  return false;
}

// Existing terms are copied into the patch and serialised, both recursively. A real term
// is 4 levels deep (term, matchExpressions, expression, values); bounding the depth keeps a
// hostile review (the HTTPS port is reachable from inside the cluster, not only by the
// apiserver) from exhausting the stack.
constexpr int kMaxTermDepth = 16;

// Checks the terms and notes, per term, whether it pins the architecture.
Status ReadTerms(const Json& terms, PodLayout& layout) {
  if (!terms.is_array()) return Malformed("nodeSelectorTerms is not a list");
  for (const auto& term : terms) {
    if (!term.is_object()) return Malformed("a nodeSelectorTerm is not an object");
    if (NestedDeeperThan(term, kMaxTermDepth)) {
      return Malformed("a nodeSelectorTerm nests deeper than " + std::to_string(kMaxTermDepth) + " levels");
    }
    const Json* expressions = Member(term, "matchExpressions");
    if (expressions && !expressions->is_array()) return Malformed("matchExpressions is not a list");
    if (expressions) {
      for (const auto& expression : *expressions) {
        if (!expression.is_object()) return Malformed("a matchExpression is not an object");
      }
    }
    layout.term_pins_arch.push_back(TermPinsArch(term));
  }
  if (!terms.empty()) layout.required_terms = &terms;
  return Status::Ok();
}

// The one walk down spec.affinity.nodeAffinity.
Status ReadAffinity(const Json& spec, PodLayout& layout) {
  const Json* at = &spec;
  if (Status s = Enter(at, "affinity", "spec.affinity", layout.affinity); !s.ok() || !at) return s;
  if (Status s = Enter(at, "nodeAffinity", "spec.affinity.nodeAffinity", layout.node_affinity); !s.ok() || !at) {
    return s;
  }
  if (const Json* preferred = Member(*at, "preferredDuringSchedulingIgnoredDuringExecution")) {
    if (!preferred->is_array()) return Malformed("preferredDuringSchedulingIgnoredDuringExecution is not a list");
    layout.preferred = true;
  }
  const char* required = "requiredDuringSchedulingIgnoredDuringExecution";
  if (Status s = Enter(at, required, required, layout.required); !s.ok() || !at) return s;
  const Json* terms = Member(*at, "nodeSelectorTerms");
  return terms ? ReadTerms(*terms, layout) : Status::Ok();
}

Status ReadImages(const Json& spec, PodPlan& plan) {
  for (const char* list : {"initContainers", "containers"}) {
    const Json* containers = Member(spec, list);
    if (!containers) continue;
    if (!containers->is_array()) return Malformed(std::string("spec.") + list + " is not a list");
    for (const auto& container : *containers) {
      const Json* image = Member(container, "image");
      if (!image) continue;  // the API server rejects these; nothing to resolve
      if (!image->is_string()) return Malformed(std::string("an image in spec.") + list + " is not a string");
      const auto& name = image->get_ref<const std::string&>();
      if (!name.empty() && std::find(plan.images.begin(), plan.images.end(), name) == plan.images.end()) {
        plan.images.push_back(name);
      }
    }
  }
  return Status::Ok();
}

Status ReadSpec(const Json& spec, PodPlan& plan) {
  if (auto s = ReadImages(spec, plan); !s.ok()) return s;
  if (const Json* secrets = Member(spec, "imagePullSecrets")) {
    if (!secrets->is_array()) return Malformed("spec.imagePullSecrets is not a list");
    for (const auto& secret : *secrets) {
      const Json* name = Member(secret, "name");
      if (name && name->is_string() && !name->get<std::string>().empty()) plan.pull_secrets.push_back(*name);
    }
  }
  if (const Json* node_name = Member(spec, "nodeName")) {
    if (!node_name->is_string()) return Malformed("spec.nodeName is not a string");
    plan.node_name = *node_name;
  }
  if (const Json* gates = Member(spec, "schedulingGates")) {
    if (!gates->is_array()) return Malformed("spec.schedulingGates is not a list");
    plan.layout.scheduling_gates = true;
  }
  const Json* node_selector = Member(spec, "nodeSelector");
  if (node_selector && !node_selector->is_object()) return Malformed("spec.nodeSelector is not an object");
  return ReadAffinity(spec, plan.layout);
}

Status ReadMetadata(const Json& pod, PodLayout& layout, const Json*& annotations) {
  const Json* metadata = &pod;
  if (Status s = Enter(metadata, "metadata", "metadata", layout.metadata); !s.ok() || !metadata) return s;
  annotations = metadata;
  if (Status s = Enter(annotations, "annotations", "metadata.annotations", layout.annotations); !s.ok()) return s;
  const Json* labels = metadata;
  return Enter(labels, "labels", "metadata.labels", layout.labels);
}

// Why the pod needs no look-up, most explicit first; "" when it needs them.
std::string ReasonToSkip(const Json& spec, const Json* annotations, const PodPlan& plan) {
  if (annotations) {
    const Json* skip = Member(*annotations, kSkipAnnotation);
    if (skip && skip->is_string() && skip->get<std::string>() == "true") {
      return std::string("opted out with the annotation ") + kSkipAnnotation;
    }
  }
  if (const Json* node_selector = Member(spec, "nodeSelector")) {
    for (const auto& [key, value] : node_selector->items()) {
      if (IsArchKey(key)) return "spec.nodeSelector already sets " + key;
    }
  }
  const auto& pins = plan.layout.term_pins_arch;
  if (!pins.empty() && std::all_of(pins.begin(), pins.end(), [](bool pinned) { return pinned; })) {
    return "node affinity already requires kubernetes.io/arch";
  }
  if (plan.images.empty()) return "the pod names no image";
  return "";
}

std::string DescribeImages(const std::vector<ImageOutcome>& outcomes) {
  std::vector<std::string> parts;
  for (const auto& outcome : outcomes) {
    if (outcome.data_only) continue;
    std::vector<std::string> platforms;
    for (const auto& p : std::set<OsArch>(outcome.platforms.begin(), outcome.platforms.end())) {
      platforms.push_back(p.String());
    }
    parts.push_back(outcome.image + " (" + (platforms.empty() ? "no platform" : Join(platforms, ", ")) + ")");
  }
  return Join(parts, "; ");
}

// `alternatives` (a term must satisfy one of them) ANDed into every term of the pod that
// does not pin the architecture already.
std::vector<std::vector<Requirements>> AndedIntoEveryTerm(const PodLayout& layout,
                                                          std::vector<Requirements> alternatives) {
  std::vector<std::vector<Requirements>> required;
  if (layout.term_pins_arch.empty()) {
    required.push_back(std::move(alternatives));
    return required;
  }
  required.reserve(layout.term_pins_arch.size());
  for (bool pinned : layout.term_pins_arch) required.push_back(pinned ? std::vector<Requirements>{} : alternatives);
  return required;
}

Decision Skipped(AdmissionResult result, std::string reason) {
  Decision decision;
  decision.result = result;
  decision.mutation.annotations.emplace(kSkippedReasonAnnotation, std::move(reason));
  return decision;
}

// Any image not inspected: never guess an affinity from the others. nullopt when every
// image was.
std::optional<Decision> DecideUninspected(const std::vector<ImageOutcome>& outcomes) {
  std::vector<std::string> failures;
  std::vector<std::string> unfinished;
  for (const auto& outcome : outcomes) {
    if (outcome.state == ImageOutcome::State::kFailed) failures.push_back(outcome.image + ": " + outcome.error);
    if (outcome.state == ImageOutcome::State::kUnfinished) unfinished.push_back(outcome.image);
  }
  if (failures.empty() && unfinished.empty()) return std::nullopt;
  std::string reason;
  std::vector<std::string> warnings;
  if (!failures.empty()) {
    reason = "could not inspect " + Join(failures, "; ");
    warnings.push_back("archway: node affinity not set: could not inspect image " + Join(failures, "; "));
  }
  if (!unfinished.empty()) {
    const std::string why = "the look-up of " + Join(unfinished, ", ") +
                            " did not finish within the time budget (it continues in the background)";
    reason += (reason.empty() ? "" : "; ") + why;
    warnings.push_back("archway: node affinity not set: " + why);
  }
  Decision decision = Skipped(AdmissionResult::kError, std::move(reason));
  decision.warnings = std::move(warnings);
  return decision;
}

Decision DecidePinnedNode(const PodPlan& plan, const std::optional<std::set<OsArch>>& common,
                          const ClusterFacts& facts) {
  Decision decision = Skipped(AdmissionResult::kSkipped, "spec.nodeName is set to " + plan.node_name);
  if (common && facts.pinned_node_platform && !common->count(*facts.pinned_node_platform)) {
    decision.warnings.push_back("archway: node " + plan.node_name + " is " + facts.pinned_node_platform->String() +
                                " but the images support " +
                                (common->empty() ? std::string("no common platform") : JoinPlatforms(*common)) +
                                ": the pod will fail to start there");
  }
  return decision;
}

Decision DecideNoCommonPlatform(const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                                const DecisionOptions& options) {
  const std::string reason = "the images have no platform in common: " + DescribeImages(outcomes);
  switch (options.policy) {
    case NoCommonPlatformPolicy::kDeny: {
      Decision decision;
      decision.result = AdmissionResult::kDenied;
      decision.denial = Denial{403, "Forbidden", "archway: " + reason};
      return decision;
    }
    case NoCommonPlatformPolicy::kIgnore: {
      Decision decision = Skipped(AdmissionResult::kNoCommonPlatform, reason);
      decision.warnings.push_back("archway: " + reason + "; admitted without node affinity (policy ignore)");
      return decision;
    }
    case NoCommonPlatformPolicy::kPending:
      break;
  }
  Decision decision = Skipped(AdmissionResult::kNoCommonPlatform, reason);
  decision.warnings.push_back("archway: " + reason + "; the pod stays Pending (requirement " + kNoCommonPlatformKey +
                              ")");
  std::vector<Requirements> unsatisfiable(1);
  unsatisfiable[0].push_back(Requirement{kNoCommonPlatformKey, "Exists", {}});
  decision.mutation.required = AndedIntoEveryTerm(plan.layout, std::move(unsatisfiable));
  decision.events.push_back(PodEvent{"NoCommonPlatform", reason});
  return decision;
}

Decision DecideAffinity(const PodPlan& plan, PlatformTerms terms, const ClusterFacts& facts) {
  const std::set<OsArch>& common = terms.node_platforms;
  Decision decision;
  decision.result = AdmissionResult::kMutated;
  decision.mutation.required = AndedIntoEveryTerm(plan.layout, std::move(terms.alternatives));
  decision.mutation.annotations.emplace(kPlatformsAnnotation, Join(terms.descriptions, ","));
  decision.warnings = std::move(terms.warnings);
  decision.arm_labels_missing = terms.arm_labels_missing;
  if (facts.ready_node_platforms) {
    const bool any = std::any_of(common.begin(), common.end(),
                                 [&](const OsArch& p) { return facts.ready_node_platforms->count(p) > 0; });
    if (!any) {
      decision.warnings.push_back("archway: no Ready node in the cluster is " + JoinPlatforms(common) +
                                  " (the platforms the images support): the pod stays Pending until one joins");
    }
  }
  return decision;
}

// One term per preferred platform the images support (`common`), in the configured order.
std::vector<PreferredTerm> PreferredTerms(const std::set<OsArch>& common,
                                          const std::vector<PreferredPlatform>& preferred) {
  std::vector<PreferredTerm> terms;
  for (const auto& p : preferred) {
    if (common.count(OsArch{p.os, p.arch}) == 0) continue;
    terms.push_back(PreferredTerm{p.weight, {Requirement{kOsLabel, "In", {p.os}}, Requirement{kArchLabel, "In", {p.arch}}}});
  }
  return terms;
}

}  // namespace

const char* ResultName(AdmissionResult result) {
  switch (result) {
    case AdmissionResult::kMutated: return "mutated";
    case AdmissionResult::kSkipped: return "skipped";
    case AdmissionResult::kUnchanged: return "unchanged";
    case AdmissionResult::kNoCommonPlatform: return "no_common_platform";
    case AdmissionResult::kDenied: return "denied";
    case AdmissionResult::kError: return "error";
    case AdmissionResult::kIgnored: return "ignored";
    case AdmissionResult::kBadRequest: return "bad_request";
    case AdmissionResult::kGated: return "gated";
    case AdmissionResult::kFromTemplate: return "from_template";
  }
  return "error";
}

Result<PodPlan> PlanPod(const Json& pod, const std::string& ns, const DecisionOptions& options) {
  PodPlan plan;
  if (!pod.is_object()) return Malformed("object is not a Pod");
  if (std::find(options.skip_namespaces.begin(), options.skip_namespaces.end(), ns) != options.skip_namespaces.end()) {
    plan.untouched = true;
    plan.skip_reason = "namespace " + ns + " is skipped";
    return plan;
  }
  const Json* annotations = nullptr;
  if (auto s = ReadMetadata(pod, plan.layout, annotations); !s.ok()) return s.error();
  const Json* spec = Member(pod, "spec");
  if (!spec || !spec->is_object()) return Malformed("spec is missing");
  if (auto s = ReadSpec(*spec, plan); !s.ok()) return s.error();
  plan.skip_reason = ReasonToSkip(*spec, annotations, plan);
  plan.platforms_annotated = annotations && annotations->contains(kPlatformsAnnotation);
  return plan;
}

std::optional<std::set<OsArch>> CommonPlatforms(const std::vector<ImageOutcome>& outcomes) {
  std::optional<std::set<OsArch>> common;
  for (const auto& outcome : outcomes) {
    if (outcome.state != ImageOutcome::State::kResolved || outcome.data_only) continue;
    std::set<OsArch> mine(outcome.platforms.begin(), outcome.platforms.end());
    if (!common) {
      common = std::move(mine);
    } else {
      std::set<OsArch> both;
      std::set_intersection(common->begin(), common->end(), mine.begin(), mine.end(), std::inserter(both, both.end()));
      common = std::move(both);
    }
  }
  return common;
}

std::vector<Requirements> PlatformRequirements(const std::set<OsArch>& platforms) {
  // One alternative per OS: kubernetes.io/os In [os] AND kubernetes.io/arch In [archs].
  std::vector<Requirements> alternatives;
  for (auto it = platforms.begin(); it != platforms.end();) {
    Requirements& alternative = alternatives.emplace_back();
    alternative.reserve(2);
    alternative.push_back(Requirement{kOsLabel, "In", {it->os}});
    Requirement& arch = alternative.emplace_back(Requirement{kArchLabel, "In", {}});
    const std::string& os = it->os;
    for (; it != platforms.end() && it->os == os; ++it) arch.values.push_back(it->arch);
  }
  return alternatives;
}

Decision Decide(const PodPlan& plan, const std::vector<ImageOutcome>& outcomes, const ClusterFacts& facts,
                const DecisionOptions& options) {
  if (plan.untouched) return Decision{};  // kUnchanged, nothing written
  if (!plan.skip_reason.empty()) return Skipped(AdmissionResult::kSkipped, plan.skip_reason);
  if (auto uninspected = DecideUninspected(outcomes)) return std::move(*uninspected);
  const auto common = CommonPlatforms(outcomes);
  if (!plan.node_name.empty()) return DecidePinnedNode(plan, common, facts);
  if (!common) {
    return Skipped(AdmissionResult::kSkipped, "no image declares a platform (data-only images fit every node)");
  }
  PlatformTerms terms = TermsForImages(outcomes, *common, facts.arm_variant_labels);
  if (terms.alternatives.empty()) {
    Decision decision = DecideNoCommonPlatform(plan, outcomes, options);
    decision.arm_labels_missing = terms.arm_labels_missing;
    if (decision.allowed()) decision.warnings.insert(decision.warnings.end(), terms.warnings.begin(), terms.warnings.end());
    return decision;
  }
  Decision decision = DecideAffinity(plan, std::move(terms), facts);
  decision.mutation.preferred = PreferredTerms(*common, options.preferred_platforms);
  return decision;
}

std::string Join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string JoinPlatforms(const std::set<OsArch>& platforms) {
  std::string joined;
  for (const auto& p : platforms) {
    if (!joined.empty()) joined += ',';
    joined.append(p.os).append(1, '/').append(p.arch);
  }
  return joined;
}

}  // namespace archway::webhook
