#include "webhook/decision.h"

#include <algorithm>
#include <map>

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

// Patch values are built member by member and moved into place: nlohmann's initializer
// lists copy every nested value, and this runs for every admitted pod.
Json ObjectWith(const char* key, Json value) {
  Json object(Json::value_t::object);
  object.get_ref<Json::object_t&>().emplace(key, std::move(value));
  return object;
}

Json AddOp(std::string path, Json value) {
  Json op(Json::value_t::object);
  auto& members = op.get_ref<Json::object_t&>();
  members.emplace("op", "add");
  members.emplace("path", std::move(path));
  members.emplace("value", std::move(value));
  return op;
}

Json Expression(const char* key, const char* op, const std::vector<std::string>& values) {
  Json expression(Json::value_t::object);
  auto& members = expression.get_ref<Json::object_t&>();
  members.emplace("key", key);
  members.emplace("operator", op);
  if (!values.empty()) members.emplace("values", values);
  return expression;
}

// Adds `additions` (each a list of expressions) to `term`: one resulting term per addition.
void AndInto(const Json& term, const std::vector<Json>& additions, Json& out_terms) {
  const Json* existing = Member(term, "matchExpressions");
  for (const auto& addition : additions) {
    Json combined(Json::value_t::object);
    for (auto it = term.begin(); it != term.end(); ++it) {
      if (it.key() != "matchExpressions") combined.get_ref<Json::object_t&>().emplace(it.key(), *it);
    }
    Json expressions = existing ? *existing : Json::array();
    for (const auto& expression : addition) {
      if (std::find(expressions.begin(), expressions.end(), expression) == expressions.end()) {
        expressions.push_back(expression);
      }
    }
    combined.get_ref<Json::object_t&>().emplace("matchExpressions", std::move(expressions));
    out_terms.push_back(std::move(combined));
  }
}

// JSON Patch operations that make the pod's required node affinity = (existing terms) AND
// (one of `additions`), leaving terms that already pin the architecture as they are.
void AddAffinityOps(const Json& pod, const std::vector<Json>& additions, Json& patch) {
  Json new_terms = Json::array();
  const Json* terms = RequiredTerms(pod);
  if (terms) {
    for (const auto& term : *terms) {
      if (TermPinsArch(term)) {
        new_terms.push_back(term);
      } else {
        AndInto(term, additions, new_terms);
      }
    }
  } else {
    AndInto(Json::object(), additions, new_terms);
  }
  const Json* spec = Member(pod, "spec");
  const Json* affinity = spec ? Member(*spec, "affinity") : nullptr;
  const Json* node_affinity = affinity ? Member(*affinity, "nodeAffinity") : nullptr;
  const Json* required = node_affinity ? Member(*node_affinity, "requiredDuringSchedulingIgnoredDuringExecution") : nullptr;
  if (required) {
    // "add" on an existing member replaces it (RFC 6902 4.1), and also works when
    // nodeSelectorTerms was absent or null.
    patch.push_back(AddOp("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
                          std::move(new_terms)));
    return;
  }
  Json required_value = ObjectWith("nodeSelectorTerms", std::move(new_terms));
  if (!affinity) {
    patch.push_back(AddOp("/spec/affinity",
                          ObjectWith("nodeAffinity", ObjectWith("requiredDuringSchedulingIgnoredDuringExecution",
                                                                std::move(required_value)))));
  } else if (!node_affinity) {
    patch.push_back(AddOp("/spec/affinity/nodeAffinity",
                          ObjectWith("requiredDuringSchedulingIgnoredDuringExecution", std::move(required_value))));
  } else {
    patch.push_back(AddOp("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution",
                          std::move(required_value)));
  }
}

void AddAnnotationOp(const Json& pod, const char* key, std::string value, Json& patch) {
  const Json* metadata = Member(pod, "metadata");
  if (!metadata) {
    patch.push_back(AddOp("/metadata", ObjectWith("annotations", ObjectWith(key, std::move(value)))));
  } else if (!Member(*metadata, "annotations")) {
    patch.push_back(AddOp("/metadata/annotations", ObjectWith(key, std::move(value))));
  } else {
    patch.push_back(AddOp("/metadata/annotations/" + EscapeJsonPointerToken(key), std::move(value)));
  }
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

Decision Decide(const Json& pod, const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
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
        AddAffinityOps(pod, {Json::array({Expression(kNoCommonPlatformKey, "Exists", {})})}, decision.patch);
        AddAnnotationOp(pod, kSkippedReasonAnnotation, reason, decision.patch);
        decision.event_note = reason;
        return decision;
    }
  }

  // One addition per OS: kubernetes.io/os In [os] AND kubernetes.io/arch In [archs].
  std::map<std::string, std::vector<std::string>> archs_by_os;
  for (const auto& p : *common) archs_by_os[p.os].push_back(p.arch);
  std::vector<Json> additions;
  for (const auto& [os, archs] : archs_by_os) {
    additions.push_back(Json::array({Expression(kOsLabel, "In", {os}), Expression(kArchLabel, "In", archs)}));
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

}  // namespace archway::webhook
