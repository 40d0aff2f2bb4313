#include "webhook/decision.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "webhook/json_text.h"

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

bool NestedDeeperThan(const Json& value, int limit) {
  std::vector<std::pair<const Json*, int>> pending{{&value, 1}};
  while (!pending.empty()) {
    auto [current, depth] = pending.back();
    pending.pop_back();
    if (depth > limit) return true;
    if (current->is_structured()) {
      for (const auto& child : *current) pending.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

Status ValidateTerms(const Json& terms) {
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
  }
  return Status::Ok();
}

// The required terms, or nullptr when there are none (absent, null or empty).
const Json* RequiredTerms(const Json& pod) {
  const Json* spec = Member(pod, "spec");
  const Json* affinity = spec ? Member(*spec, "affinity") : nullptr;
  const Json* node_affinity = affinity ? Member(*affinity, "nodeAffinity") : nullptr;
  const Json* required = node_affinity ? Member(*node_affinity, "requiredDuringSchedulingIgnoredDuringExecution") : nullptr;
  const Json* terms = required ? Member(*required, "nodeSelectorTerms") : nullptr;
  if (!terms || !terms->is_array() || terms->empty()) return nullptr;
  return terms;
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
  std::vector<std::string> names;
  for (const auto& p : platforms) names.push_back(p.String());
  return Join(names, ",");
}

// The patch is written as JSON text, op by op, rather than built as a Json tree: this runs
// for every admitted pod. Ops are "add" (on an existing member it replaces, RFC 6902 4.1)
// and their members are in the order Json::dump writes them.
void BeginAdd(std::string_view path, std::string& patch) {
  patch += patch.empty() ? '[' : ',';
  patch += R"({"op":"add","path":)";
  AppendJsonString(path, patch);
  patch += R"(,"value":)";
}
void EndOp(std::string& patch) { patch += '}'; }

// A requirement archway adds to a nodeSelectorTerm.
struct Requirement {
  const char* key;
  const char* op;
  std::vector<std::string> values;  // none for Exists
};

void AppendRequirement(const Requirement& requirement, std::string& out) {
  out += R"({"key":)";
  AppendJsonString(requirement.key, out);
  out += R"(,"operator":)";
  AppendJsonString(requirement.op, out);
  if (!requirement.values.empty()) {
    out += R"(,"values":[)";
    JsonItems values;
    for (const auto& value : requirement.values) {
      values.Next(out);
      AppendJsonString(value, out);
    }
    out += ']';
  }
  out += '}';
}

// `expression` (from the pod) is exactly `requirement`, so ANDing it again adds nothing.
bool SameRequirement(const Json& expression, const Requirement& requirement) {
  if (!expression.is_object() || expression.size() != (requirement.values.empty() ? 2u : 3u)) return false;
  auto key = expression.find("key");
  auto op = expression.find("operator");
  if (key == expression.end() || *key != requirement.key || op == expression.end() || *op != requirement.op) {
    return false;
  }
  if (requirement.values.empty()) return true;
  auto values = expression.find("values");
  if (values == expression.end() || !values->is_array() || values->size() != requirement.values.size()) return false;
  for (size_t i = 0; i < requirement.values.size(); ++i) {
    if ((*values)[i] != requirement.values[i]) return false;
  }
  return true;
}

// Each addition is a list of requirements; the term must satisfy one of the additions.
using Additions = std::vector<std::vector<Requirement>>;

// The matchExpressions of `existing` (may be null) with `addition` ANDed in; a requirement
// the term already has exactly is not repeated.
void AppendAndedExpressions(const Json* existing, const std::vector<Requirement>& addition, std::string& out) {
  out += R"("matchExpressions":[)";
  JsonItems expressions;
  if (existing) {
    for (const auto& expression : *existing) {
      expressions.Next(out);
      AppendJson(expression, out);
    }
  }
  for (const auto& requirement : addition) {
    if (existing && std::any_of(existing->begin(), existing->end(),
                                [&](const Json& expression) { return SameRequirement(expression, requirement); })) {
      continue;
    }
    expressions.Next(out);
    AppendRequirement(requirement, out);
  }
  out += ']';
}

// One term per addition: `term` (an existing nodeSelectorTerm, or null for none) with the
// addition ANDed into its matchExpressions; its other members are kept, and all of them
// are written in the sorted order Json::dump uses.
void AppendAndedTerms(const Json* term, const Additions& additions, JsonItems& terms, std::string& out) {
  static constexpr std::string_view kExpressions = "matchExpressions";
  const Json* existing = term ? Member(*term, "matchExpressions") : nullptr;
  for (const auto& addition : additions) {
    terms.Next(out);
    out += '{';
    JsonItems members;
    bool expressions_written = false;
    if (term) {
      for (auto it = term->begin(); it != term->end(); ++it) {
        if (it.key() == kExpressions) continue;
        if (!expressions_written && it.key() > kExpressions) {
          members.Next(out);
          AppendAndedExpressions(existing, addition, out);
          expressions_written = true;
        }
        members.Next(out);
        AppendJsonString(it.key(), out);
        out += ':';
        AppendJson(*it, out);
      }
    }
    if (!expressions_written) {
      members.Next(out);
      AppendAndedExpressions(existing, addition, out);
    }
    out += '}';
  }
}

// The op that makes the pod's required node affinity = (existing terms) AND (one of
// `additions`), leaving terms that already pin the architecture as they are.
void AddAffinityOps(const Json& pod, const Additions& additions, std::string& patch) {
  const Json* spec = Member(pod, "spec");
  const Json* affinity = spec ? Member(*spec, "affinity") : nullptr;
  const Json* node_affinity = affinity ? Member(*affinity, "nodeAffinity") : nullptr;
  const Json* required = node_affinity ? Member(*node_affinity, "requiredDuringSchedulingIgnoredDuringExecution") : nullptr;
  // Where the terms go, and the objects around them that the pod lacks.
  std::string_view path, open, close;
  if (required) {  // also when nodeSelectorTerms was absent or null
    path = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";
  } else if (!affinity) {
    path = "/spec/affinity";
    open = R"({"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":)";
    close = "}}}";
  } else if (!node_affinity) {
    path = "/spec/affinity/nodeAffinity";
    open = R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":)";
    close = "}}";
  } else {
    path = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution";
    open = R"({"nodeSelectorTerms":)";
    close = "}";
  }
  BeginAdd(path, patch);
  patch += open;
  patch += '[';
  JsonItems new_terms;
  if (const Json* terms = RequiredTerms(pod)) {
    for (const auto& term : *terms) {
      if (TermPinsArch(term)) {
        new_terms.Next(patch);
        AppendJson(term, patch);
      } else {
        AppendAndedTerms(&term, additions, new_terms, patch);
      }
    }
  } else {
    AppendAndedTerms(nullptr, additions, new_terms, patch);
  }
  patch += ']';
  patch += close;
  EndOp(patch);
}

void AddAnnotationOp(const Json& pod, const char* key, const std::string& value, std::string& patch) {
  const Json* metadata = Member(pod, "metadata");
  if (!metadata) {
    BeginAdd("/metadata", patch);
    patch += R"({"annotations":{)";
  } else if (!Member(*metadata, "annotations")) {
    BeginAdd("/metadata/annotations", patch);
    patch += '{';
  } else {
    BeginAdd("/metadata/annotations/" + EscapeJsonPointerToken(key), patch);
    AppendJsonString(value, patch);
    EndOp(patch);
    return;
  }
  AppendJsonString(key, patch);
  patch += ':';
  AppendJsonString(value, patch);
  patch += metadata ? "}" : "}}";
  EndOp(patch);
}

Decision Skipped(const Json& pod, const std::string& reason) {
  Decision decision;
  decision.result = "skipped";
  AddAnnotationOp(pod, kSkippedReasonAnnotation, reason, decision.patch);
  return decision;
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

}  // namespace

std::string EscapeJsonPointerToken(const std::string& token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Result<PodPlan> PlanPod(const Json& pod, const std::string& ns, const DecisionOptions& options) {
  PodPlan plan;
  if (!pod.is_object()) return Malformed("object is not a Pod");
  if (std::find(options.skip_namespaces.begin(), options.skip_namespaces.end(), ns) != options.skip_namespaces.end()) {
    plan.untouched = true;
    plan.skip_reason = "namespace " + ns + " is skipped";
    return plan;
  }
  const Json* metadata = Member(pod, "metadata");
  if (metadata && !metadata->is_object()) return Malformed("metadata is not an object");
  const Json* annotations = metadata ? Member(*metadata, "annotations") : nullptr;
  if (annotations && !annotations->is_object()) return Malformed("metadata.annotations is not an object");
  const Json* spec = Member(pod, "spec");
  if (!spec || !spec->is_object()) return Malformed("spec is missing");

  for (const char* list : {"initContainers", "containers"}) {
    const Json* containers = Member(*spec, list);
    if (!containers) continue;
    if (!containers->is_array()) return Malformed(std::string("spec.") + list + " is not a list");
    for (const auto& container : *containers) {
      const Json* image = Member(container, "image");
      if (!image) continue;  // the API server rejects these; nothing to resolve
      if (!image->is_string()) return Malformed(std::string("an image in spec.") + list + " is not a string");
      const auto name = image->get<std::string>();
      if (!name.empty() && std::find(plan.images.begin(), plan.images.end(), name) == plan.images.end()) {
        plan.images.push_back(name);
      }
    }
  }
  if (const Json* secrets = Member(*spec, "imagePullSecrets")) {
    if (!secrets->is_array()) return Malformed("spec.imagePullSecrets is not a list");
    for (const auto& secret : *secrets) {
      const Json* name = Member(secret, "name");
      if (name && name->is_string() && !name->get<std::string>().empty()) plan.pull_secrets.push_back(*name);
    }
  }
  if (const Json* node_name = Member(*spec, "nodeName")) {
    if (!node_name->is_string()) return Malformed("spec.nodeName is not a string");
    plan.node_name = *node_name;
  }
  const Json* node_selector = Member(*spec, "nodeSelector");
  if (node_selector && !node_selector->is_object()) return Malformed("spec.nodeSelector is not an object");
  if (const Json* affinity = Member(*spec, "affinity")) {
    if (!affinity->is_object()) return Malformed("spec.affinity is not an object");
    if (const Json* node_affinity = Member(*affinity, "nodeAffinity")) {
      if (!node_affinity->is_object()) return Malformed("spec.affinity.nodeAffinity is not an object");
      if (const Json* required = Member(*node_affinity, "requiredDuringSchedulingIgnoredDuringExecution")) {
        if (!required->is_object()) return Malformed("requiredDuringSchedulingIgnoredDuringExecution is not an object");
        if (const Json* terms = Member(*required, "nodeSelectorTerms")) {
          if (auto s = ValidateTerms(*terms); !s.ok()) return s.error();
        }
      }
    }
  }

  // Reasons to decide without look-ups, most explicit first.
  if (annotations) {
    const Json* skip = Member(*annotations, kSkipAnnotation);
    if (skip && skip->is_string() && skip->get<std::string>() == "true") {
      plan.skip_reason = std::string("opted out with the annotation ") + kSkipAnnotation;
      return plan;
    }
  }
  if (node_selector) {
    for (const auto& [key, value] : node_selector->items()) {
      if (IsArchKey(key)) {
        plan.skip_reason = "spec.nodeSelector already sets " + key;
        return plan;
      }
    }
  }
  if (const Json* terms = RequiredTerms(pod)) {
    if (std::all_of(terms->begin(), terms->end(), TermPinsArch)) {
      plan.skip_reason = "node affinity already requires kubernetes.io/arch";
      return plan;
    }
  }
  if (plan.images.empty()) plan.skip_reason = "the pod names no image";
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

namespace {

// Decide() but for closing the patch: its ops are written as an open JSON array.
Decision DecideWithOpenPatch(const Json& pod, const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                             const ClusterFacts& facts, const DecisionOptions& options) {
  if (plan.untouched) {
    Decision decision;
    decision.result = "unchanged";
    return decision;
  }
  if (!plan.skip_reason.empty()) return Skipped(pod, plan.skip_reason);

  // Any image not inspected: never guess an affinity from the others.
  std::vector<std::string> failures;
  std::vector<std::string> unfinished;
  for (const auto& outcome : outcomes) {
    if (outcome.state == ImageOutcome::State::kFailed) failures.push_back(outcome.image + ": " + outcome.error);
    if (outcome.state == ImageOutcome::State::kUnfinished) unfinished.push_back(outcome.image);
  }
  if (!failures.empty() || !unfinished.empty()) {
    std::string reason;
    Decision decision;
    if (!failures.empty()) {
      reason = "could not inspect " + Join(failures, "; ");
      decision.warnings.push_back("archway: node affinity not set: could not inspect image " + Join(failures, "; "));
    }
    if (!unfinished.empty()) {
      const std::string why = "the look-up of " + Join(unfinished, ", ") +
                              " did not finish within the time budget (it continues in the background)";
      reason += (reason.empty() ? "" : "; ") + why;
      decision.warnings.push_back("archway: node affinity not set: " + why);
    }
    decision.result = "error";
    AddAnnotationOp(pod, kSkippedReasonAnnotation, reason, decision.patch);
    return decision;
  }

  const auto common = CommonPlatforms(outcomes);
  if (!plan.node_name.empty()) {
    Decision decision = Skipped(pod, "spec.nodeName is set to " + plan.node_name);
    if (common && facts.pinned_node_platform && !common->count(*facts.pinned_node_platform)) {
      decision.warnings.push_back("archway: node " + plan.node_name + " is " + facts.pinned_node_platform->String() +
                                  " but the images support " +
                                  (common->empty() ? std::string("no common platform") : JoinPlatforms(*common)) +
                                  ": the pod will fail to start there");
    }
    return decision;
  }
  if (!common) return Skipped(pod, "no image declares a platform (data-only images fit every node)");

  if (common->empty()) {
    const std::string reason = "the images have no platform in common: " + DescribeImages(outcomes);
    Decision decision;
    decision.result = "no_common_platform";
    switch (options.policy) {
      case NoCommonPlatformPolicy::kDeny:
        decision.allowed = false;
        decision.status_code = 403;
        decision.status_reason = "Forbidden";
        decision.status_message = "archway: " + reason;
        decision.result = "denied";
        return decision;
      case NoCommonPlatformPolicy::kIgnore:
        decision.warnings.push_back("archway: " + reason + "; admitted without node affinity (policy ignore)");
        AddAnnotationOp(pod, kSkippedReasonAnnotation, reason, decision.patch);
        return decision;
      case NoCommonPlatformPolicy::kPending:
        decision.warnings.push_back("archway: " + reason + "; the pod stays Pending (requirement " +
                                    kNoCommonPlatformKey + ")");
        AddAffinityOps(pod, {{Requirement{kNoCommonPlatformKey, "Exists", {}}}}, decision.patch);
        AddAnnotationOp(pod, kSkippedReasonAnnotation, reason, decision.patch);
        decision.event_note = reason;
        return decision;
    }
  }

  // One addition per OS: kubernetes.io/os In [os] AND kubernetes.io/arch In [archs].
  std::map<std::string, std::vector<std::string>> archs_by_os;
  for (const auto& p : *common) archs_by_os[p.os].push_back(p.arch);
  Additions additions;
  for (auto& [os, archs] : archs_by_os) {
    additions.push_back({Requirement{kOsLabel, "In", {os}}, Requirement{kArchLabel, "In", std::move(archs)}});
  }
  Decision decision;
  decision.result = "mutated";
  AddAffinityOps(pod, additions, decision.patch);
  AddAnnotationOp(pod, kPlatformsAnnotation, JoinPlatforms(*common), decision.patch);
  if (facts.ready_node_platforms) {
    const bool any = std::any_of(common->begin(), common->end(),
                                 [&](const OsArch& p) { return facts.ready_node_platforms->count(p) > 0; });
    if (!any) {
      decision.warnings.push_back("archway: no Ready node in the cluster is " + JoinPlatforms(*common) +
                                  " (the platforms the images support): the pod stays Pending until one joins");
    }
  }
  return decision;
}

}  // namespace

Decision Decide(const Json& pod, const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                const ClusterFacts& facts, const DecisionOptions& options) {
  Decision decision = DecideWithOpenPatch(pod, plan, outcomes, facts, options);
  if (!decision.patch.empty()) decision.patch += ']';
  return decision;
}

}  // namespace archway::webhook
