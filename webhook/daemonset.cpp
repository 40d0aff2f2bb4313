#include "webhook/daemonset.h"

#include <algorithm>
#include <charconv>

#include "kube/object.h"
#include "webhook/json_text.h"
#include "webhook/patch.h"

namespace archway::webhook {
namespace {

constexpr std::string_view kTemplate = "/spec/template";

Error Malformed(const std::string& what) { return Error(ErrorCode::kInvalidArgument, "daemonset: " + what); }

// obj[key] when obj is an object holding a non-null key, else nullptr.
const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}
Json* Member(Json& obj, const char* key) { return const_cast<Json*>(Member(std::as_const(obj), key)); }

const Json* Template(const Json& daemon_set) {
  const Json* spec = Member(daemon_set, "spec");
  return spec ? Member(*spec, "template") : nullptr;
}

std::optional<std::string> AnnotationOf(const Json& pod, const char* key) {
  const Json* metadata = Member(pod, "metadata");
  const Json* annotations = metadata ? Member(*metadata, "annotations") : nullptr;
  const Json* value = annotations ? Member(*annotations, key) : nullptr;
  if (!value || !value->is_string()) return std::nullopt;
  return value->get<std::string>();
}

std::optional<std::set<OsArch>> PlatformsOf(const Json& pod) {
  auto annotation = AnnotationOf(pod, kPlatformsAnnotation);
  return annotation ? ParsePlatforms(*annotation) : std::nullopt;
}

Json RequirementJson(const Requirement& requirement) {
  Json expression = {{"key", requirement.key}, {"operator", requirement.op}};
  if (!requirement.values.empty()) expression["values"] = requirement.values;
  return expression;
}

bool IsArchKey(const Json& expression) {
  const Json* key = Member(expression, "key");
  return key && key->is_string() && (*key == kArchLabel || *key == "beta.kubernetes.io/arch");
}

// What archway ANDs into a term for one OS: os expression, arch expression.
struct Alternative {
  Json os;
  Json arch;
};

// Takes archway's expressions off the end of one term; true when it did.
bool StripTerm(Json& term, const std::vector<Alternative>& alternatives) {
  Json* expressions = Member(term, "matchExpressions");
  if (!expressions || !expressions->is_array() || expressions->empty()) return false;
  static const Json kNoCommon = RequirementJson(Requirement{kNoCommonPlatformKey, "Exists", {}});
  bool stripped = false;
  if (expressions->back() == kNoCommon) {
    expressions->erase(expressions->end() - 1);
    stripped = true;
  } else {
    for (const Alternative& alternative : alternatives) {
      if (expressions->back() != alternative.arch) continue;
      // Archway adds nothing to a term that pins the architecture: another arch
      // expression left means this one is the user's.
      if (std::count_if(expressions->begin(), expressions->end(), IsArchKey) > 1) break;
      expressions->erase(expressions->end() - 1);
      if (!expressions->empty() && expressions->back() == alternative.os) expressions->erase(expressions->end() - 1);
      stripped = true;
      break;
    }
  }
  if (stripped && expressions->empty()) term.erase("matchExpressions");
  return stripped;
}

// `tmpl` without archway's requirement for any of `candidates` (platforms it may have
// applied) nor the pending policy's: the terms as the user wrote them; objects emptied
// by that are removed, as archway added them.
void StripArchwayRequirement(Json& tmpl, const std::vector<std::set<OsArch>>& candidates) {
  Json* spec = Member(tmpl, "spec");
  Json* affinity = spec ? Member(*spec, "affinity") : nullptr;
  Json* node_affinity = affinity ? Member(*affinity, "nodeAffinity") : nullptr;
  Json* required = node_affinity ? Member(*node_affinity, "requiredDuringSchedulingIgnoredDuringExecution") : nullptr;
  Json* terms = required ? Member(*required, "nodeSelectorTerms") : nullptr;
  if (!terms || !terms->is_array() || !affinity->is_object() || !node_affinity->is_object() || !required->is_object()) {
    return;
  }
  std::vector<Alternative> alternatives;
  for (const auto& platforms : candidates) {
    for (const Requirements& alternative : PlatformRequirements(platforms)) {
      alternatives.push_back(Alternative{RequirementJson(alternative[0]), RequirementJson(alternative[1])});
    }
  }
  Json kept = Json::array();
  bool any = false;
  bool previous_stripped = false;
  for (Json term : *terms) {
    const bool stripped = term.is_object() && StripTerm(term, alternatives);
    any |= stripped;
    if (stripped && term.empty()) continue;  // archway's own term (the template had none)
    // One term per OS was made of each user term: they are one again.
    if (stripped && previous_stripped && term == kept.back()) continue;
    kept.push_back(std::move(term));
    previous_stripped = stripped;
  }
  if (!any) return;
  if (!kept.empty()) {
    *terms = std::move(kept);
    return;
  }
  required->erase("nodeSelectorTerms");
  if (required->empty()) node_affinity->erase("requiredDuringSchedulingIgnoredDuringExecution");
  if (node_affinity->empty()) affinity->erase("nodeAffinity");
  if (affinity->empty()) spec->erase("affinity");
}

// The platform of `term` when it is a preferred term exactly as archway writes one
// ({weight, preference: os In [os], arch In [arch]}) for one of `platforms`.
std::optional<OsArch> ArchwayPreference(const Json& term, const std::set<OsArch>& platforms) {
  const Json* weight = Member(term, "weight");
  const Json* preference = Member(term, "preference");
  if (!term.is_object() || term.size() != 2 || !weight || !weight->is_number_integer() || !preference) return std::nullopt;
  for (const OsArch& platform : platforms) {
    const Json expressions = Json::array({RequirementJson(Requirement{kOsLabel, "In", {platform.os}}),
                                          RequirementJson(Requirement{kArchLabel, "In", {platform.arch}})});
    if (*preference == Json{{"matchExpressions", expressions}}) return platform;
  }
  return std::nullopt;
}

// The template's preferred node-affinity terms (nullptr: none).
const Json* PreferredTerms(const Json& tmpl) {
  static const Json::json_pointer kTerms("/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution");
  return tmpl.contains(kTerms) ? &tmpl.at(kTerms) : nullptr;
}

// How many terms at the end of `terms` archway appended for any of `platforms`: the run of
// archway-shaped terms there, one per platform (Decide appends them after the user's, at
// most one per platform).
size_t ArchwayPreferenceRun(const Json& terms, const std::set<OsArch>& platforms) {
  if (!terms.is_array()) return 0;
  std::set<OsArch> seen;
  size_t run = 0;
  for (; run < terms.size(); ++run) {
    auto platform = ArchwayPreference(terms[terms.size() - 1 - run], platforms);
    if (!platform || !seen.insert(*platform).second) break;
  }
  return run;
}

// `tmpl` without the preferred terms archway appended for any of `candidates`, so that the
// terms of the preferred platforms that apply now (the config's or the namespace's)
// replace them instead of piling up at every update: the run ArchwayPreferenceRun finds
// at the end of `reference`'s list (the stored template's), taken off `tmpl`'s list only
// when that ends with exactly those terms. A manifest re-applied as the user wrote it
// (without archway's terms) keeps its own terms, even one of archway's shape. Objects
// emptied by that are removed, as archway added them.
void StripArchwayPreferences(Json& tmpl, const Json& reference, const std::vector<std::set<OsArch>>& candidates) {
  Json* spec = Member(tmpl, "spec");
  Json* affinity = spec ? Member(*spec, "affinity") : nullptr;
  Json* node_affinity = affinity ? Member(*affinity, "nodeAffinity") : nullptr;
  Json* terms = node_affinity ? Member(*node_affinity, "preferredDuringSchedulingIgnoredDuringExecution") : nullptr;
  const Json* archways = PreferredTerms(reference);
  if (!terms || !terms->is_array() || !affinity->is_object() || !node_affinity->is_object() || !archways) return;
  std::set<OsArch> platforms;
  for (const auto& candidate : candidates) platforms.insert(candidate.begin(), candidate.end());
  const size_t run = ArchwayPreferenceRun(*archways, platforms);
  if (run == 0 || terms->size() < run ||
      !std::equal(archways->end() - static_cast<std::ptrdiff_t>(run), archways->end(),
                  terms->end() - static_cast<std::ptrdiff_t>(run))) {
    return;
  }
  terms->erase(terms->end() - static_cast<std::ptrdiff_t>(run), terms->end());
  if (!terms->empty()) return;
  node_affinity->erase("preferredDuringSchedulingIgnoredDuringExecution");
  if (node_affinity->empty()) affinity->erase("nodeAffinity");
  if (affinity->empty()) spec->erase("affinity");
}

std::vector<std::string> ImagesOf(const PodPlan& plan) {
  std::vector<std::string> images = plan.images;
  std::sort(images.begin(), images.end());
  return images;
}

// The pod decision's words, for a DaemonSet (whose controller makes no pod where the
// template's affinity excludes it).
void SpeakOfTheDaemonSet(Decision& decision) {
  static const std::pair<std::string_view, std::string_view> kPhrases[] = {
      {"the pod stays Pending", "the DaemonSet makes no pods"},
      {"the pod will fail to start there", "its pods will fail to start there"},
  };
  for (std::string& warning : decision.warnings) {
    for (const auto& [pod, daemon_set] : kPhrases) {
      if (auto at = warning.find(pod); at != std::string::npos) warning.replace(at, pod.size(), daemon_set);
    }
  }
}

bool WritesRequired(const Mutation& mutation) {
  return std::any_of(mutation.required.begin(), mutation.required.end(),
                     [](const std::vector<Requirements>& additions) { return !additions.empty(); });
}

void AppendOp(const char* op, std::string_view path, const Json* value, std::string& out) {
  out += out.empty() ? '[' : ',';
  out += R"({"op":)";
  AppendJsonString(op, out);
  out += R"(,"path":)";
  AppendJsonString(path, out);
  if (value) {
    out += R"(,"value":)";
    AppendJson(*value, out);
  }
  out += '}';
}

// The patch at /spec/template: first what takes archway's earlier requirement and
// annotations out where the mutation does not replace them, then the mutation (written
// for the stripped template, which is what the template is after those ops, but for
// objects the mutation's own ops replace whole).
std::string WriteTemplatePatch(const TemplatePlan& plan, const Mutation& mutation) {
  std::string out;
  const Json* sent_spec = Member(plan.sent, "spec");
  const Json* stripped_spec = Member(plan.stripped, "spec");
  const Json* sent_affinity = sent_spec ? Member(*sent_spec, "affinity") : nullptr;
  const Json* stripped_affinity = stripped_spec ? Member(*stripped_spec, "affinity") : nullptr;
  const bool same_affinity =
      (sent_affinity == nullptr) == (stripped_affinity == nullptr) && (!sent_affinity || *sent_affinity == *stripped_affinity);
  if (!same_affinity && !WritesRequired(mutation)) {
    const std::string path = std::string(kTemplate) + "/spec/affinity";
    AppendOp(stripped_affinity ? "add" : "remove", path, stripped_affinity, out);
  } else if (!same_affinity) {
    // The mutation writes the required terms whole but appends preferred terms: archway's
    // earlier ones go first.
    const Json* sent_preferred = PreferredTerms(plan.sent);
    const Json* stripped_preferred = PreferredTerms(plan.stripped);
    if (sent_preferred && (!stripped_preferred || *sent_preferred != *stripped_preferred)) {
      const std::string path = std::string(kTemplate) + "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution";
      AppendOp(stripped_preferred ? "add" : "remove", path, stripped_preferred, out);
    }
  }
  for (const char* key : {kPlatformsAnnotation, kSkippedReasonAnnotation}) {
    if (AnnotationOf(plan.sent, key) && !mutation.annotations.count(key)) {
      AppendOp("remove", std::string(kTemplate) + "/metadata/annotations/" + EscapeJsonPointerToken(key), nullptr, out);
    }
  }
  const std::string mutated = WritePatch(mutation, plan.pod.layout, PatchTarget{kTemplate});
  if (out.empty()) return mutated;
  if (mutated.empty()) return out + ']';
  return out + ',' + mutated.substr(1);
}

const Json& EmptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

const Json* RequiredTerms(const Json& tmpl) {
  static const Json::json_pointer kTerms(
      "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
  return tmpl.contains(kTerms) ? &tmpl.at(kTerms) : nullptr;
}

bool Has(const std::vector<OsArch>& platforms, const OsArch& platform) {
  return std::find(platforms.begin(), platforms.end(), platform) != platforms.end();
}

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Why nodes of `platform` are skipped: the images without a build for it.
std::string WhySkipped(const std::string& platform, const std::vector<ImageOutcome>& outcomes,
                       const std::optional<std::set<OsArch>>& known) {
  if (platform.empty()) return "no kubernetes.io/os and kubernetes.io/arch labels";
  if (known) return "the images support only " + JoinPlatforms(*known);
  const auto slash = platform.find('/');
  const OsArch wanted{platform.substr(0, slash), platform.substr(slash + 1)};
  std::vector<std::string> lacking;
  for (const auto& outcome : outcomes) {
    if (outcome.state == ImageOutcome::State::kResolved && !outcome.data_only && !Has(outcome.platforms, wanted)) {
      lacking.push_back(outcome.image);
    }
  }
  std::string images;
  for (const auto& image : lacking) images += (images.empty() ? "" : ", ") + image;
  return (lacking.size() == 1 ? "image " + images + " has" : "images " + images + " have") + " no " + platform +
         " build";
}

SkippedNodes CountSkipped(const TemplatePlan& plan, const Json& after, const std::vector<NodeLabels>& nodes,
                          const std::vector<ImageOutcome>& outcomes) {
  SkippedNodes skipped;
  skipped.counted = true;
  const Json* stripped_spec = Member(plan.stripped, "spec");
  const Json* node_selector = stripped_spec ? Member(*stripped_spec, "nodeSelector") : nullptr;
  const Json* users = RequiredTerms(plan.stripped);
  const Json* final_terms = RequiredTerms(after);
  for (const auto& node : nodes) {
    if (!NodeMatches(node.name, node.labels, node_selector, users) ||
        NodeMatches(node.name, node.labels, node_selector, final_terms)) {
      continue;
    }
    auto os = node.labels.find(kOsLabel);
    auto arch = node.labels.find(kArchLabel);
    const bool labelled = os != node.labels.end() && arch != node.labels.end();
    ++skipped.by_platform[labelled ? os->second + "/" + arch->second : ""];
  }
  if (skipped.by_platform.empty()) return skipped;
  auto named = [](const std::string& platform, size_t n) {
    return Plural(n, (platform.empty() ? "unlabelled" : platform) + " node", (platform.empty() ? "unlabelled" : platform) + " nodes");
  };
  if (skipped.by_platform.size() == 1) {
    const auto& [platform, n] = *skipped.by_platform.begin();
    skipped.note = "skips " + named(platform, n) + ": " + WhySkipped(platform, outcomes, plan.known_platforms);
    return skipped;
  }
  skipped.note = "skips " + Plural(skipped.Count(), "node", "nodes") + ":";
  bool first = true;
  for (const auto& [platform, n] : skipped.by_platform) {
    skipped.note += std::string(first ? " " : ", ") + named(platform, n) + " (" +
                    WhySkipped(platform, outcomes, plan.known_platforms) + ")";
    first = false;
  }
  return skipped;
}

// --- node selector matching -----------------------------------------------------------

bool StringValues(const Json& expression, std::vector<std::string>& values) {
  const Json* list = Member(expression, "values");
  if (!list) return true;
  if (!list->is_array()) return false;
  for (const auto& value : *list) {
    if (!value.is_string()) return false;
    values.push_back(value.get<std::string>());
  }
  return true;
}

bool ParseInteger(const std::string& text, long long& out) {
  const char* end = text.data() + text.size();
  auto [at, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && at == end;
}

// One requirement against a value that is there or not (an invalid one matches nothing).
bool RequirementMatches(const Json& expression, const std::string* value) {
  const Json* op = Member(expression, "operator");
  std::vector<std::string> values;
  if (!op || !op->is_string() || !StringValues(expression, values)) return false;
  const std::string& name = op->get_ref<const std::string&>();
  const bool listed = value && std::find(values.begin(), values.end(), *value) != values.end();
  if (name == "In") return listed;
  if (name == "NotIn") return !listed;
  if (name == "Exists") return value != nullptr;
  if (name == "DoesNotExist") return value == nullptr;
  if (name == "Gt" || name == "Lt") {
    long long have = 0;
    long long bound = 0;
    if (!value || values.size() != 1 || !ParseInteger(*value, have) || !ParseInteger(values[0], bound)) return false;
    return name == "Gt" ? have > bound : have < bound;
  }
  return false;
}

bool TermMatches(const std::string& name, const std::map<std::string, std::string>& labels, const Json& term) {
  const Json* expressions = Member(term, "matchExpressions");
  const Json* fields = Member(term, "matchFields");
  const bool has_expressions = expressions && expressions->is_array() && !expressions->empty();
  const bool has_fields = fields && fields->is_array() && !fields->empty();
  if (!has_expressions && !has_fields) return false;  // an empty term matches nothing
  for (const Json* list : {expressions, fields}) {
    if (!list || !list->is_array()) continue;
    for (const auto& expression : *list) {
      const Json* key = Member(expression, "key");
      if (!key || !key->is_string()) return false;
      const std::string& k = key->get_ref<const std::string&>();
      const std::string* value = nullptr;
      if (list == fields) {
        if (k != "metadata.name") return false;
        value = &name;
      } else if (auto it = labels.find(k); it != labels.end()) {
        value = &it->second;
      }
      if (!RequirementMatches(expression, value)) return false;
    }
  }
  return true;
}

}  // namespace

size_t SkippedNodes::Count() const {
  size_t n = 0;
  for (const auto& [platform, count] : by_platform) n += count;
  return n;
}

std::optional<std::set<OsArch>> ParsePlatforms(std::string_view annotation) {
  std::set<OsArch> platforms;
  while (!annotation.empty()) {
    const auto comma = annotation.find(',');
    const std::string_view item = annotation.substr(0, comma);
    const auto slash = item.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == item.size() ||
        item.find('/', slash + 1) != std::string_view::npos) {
      return std::nullopt;
    }
    platforms.insert(OsArch{std::string(item.substr(0, slash)), std::string(item.substr(slash + 1))});
    if (comma == std::string_view::npos) break;
    annotation.remove_prefix(comma + 1);
    if (annotation.empty()) return std::nullopt;  // a trailing comma
  }
  if (platforms.empty()) return std::nullopt;
  return platforms;
}

bool NodeMatches(const std::string& name, const std::map<std::string, std::string>& labels, const Json* node_selector,
                 const Json* terms) {
  if (node_selector && node_selector->is_object()) {
    for (const auto& [key, value] : node_selector->items()) {
      auto it = labels.find(key);
      if (it == labels.end() || !value.is_string() || it->second != value.get_ref<const std::string&>()) return false;
    }
  }
  if (!terms) return true;
  if (!terms->is_array()) return false;
  return std::any_of(terms->begin(), terms->end(), [&](const Json& term) { return TermMatches(name, labels, term); });
}

bool PlacedByDaemonSetTemplate(const Json& pod) {
  const auto owners = kube::OwnerReferencesOf(pod);
  return std::any_of(owners.begin(), owners.end(), [](const kube::OwnerReference& owner) {
    return owner.controller && owner.kind == "DaemonSet" && owner.api_version == "apps/v1";
  });
}

Result<TemplatePlan> PlanDaemonSet(const Json& daemon_set, const Json& stored, const std::string& ns,
                                   const DecisionOptions& options) {
  if (!daemon_set.is_object()) return Malformed("object is not a DaemonSet");
  const Json* sent = Template(daemon_set);
  if (!sent || !sent->is_object()) return Malformed("spec.template is missing");
  TemplatePlan plan;
  plan.sent = *sent;
  plan.stripped = *sent;
  const Json* old_template = stored.is_object() ? Template(stored) : nullptr;
  std::vector<std::set<OsArch>> candidates;
  if (auto platforms = PlatformsOf(*sent)) candidates.push_back(*platforms);
  std::optional<std::set<OsArch>> stored_platforms = old_template ? PlatformsOf(*old_template) : std::nullopt;
  if (stored_platforms) candidates.push_back(*stored_platforms);
  StripArchwayRequirement(plan.stripped, candidates);
  StripArchwayPreferences(plan.stripped, old_template ? *old_template : *sent, candidates);
  auto pod = PlanPod(plan.stripped, ns, options);
  if (!pod.ok()) return Malformed("spec.template: " + pod.error().message);
  plan.pod = std::move(*pod);
  if (old_template && !plan.pod.untouched) {
    auto old_pod = PlanPod(*old_template, ns, options);
    plan.images_unchanged = old_pod.ok() && ImagesOf(*old_pod) == ImagesOf(plan.pod);
    if (plan.images_unchanged) plan.known_platforms = stored_platforms;
  }
  return plan;
}

TemplateDecision DecideTemplate(const TemplatePlan& plan, const std::vector<ImageOutcome>& outcomes,
                                const ClusterFacts& facts, const std::vector<NodeLabels>* nodes,
                                const DecisionOptions& options) {
  TemplateDecision out;
  if (plan.pod.untouched) return out;  // kUnchanged: not even archway's earlier requirement is touched
  std::vector<ImageOutcome> known;
  if (plan.known_platforms && plan.pod.skip_reason.empty()) {
    ImageOutcome& outcome = known.emplace_back();
    outcome.image = "the images (unchanged)";
    outcome.state = ImageOutcome::State::kResolved;
    outcome.platforms.assign(plan.known_platforms->begin(), plan.known_platforms->end());
  }
  out.decision = Decide(plan.pod, known.empty() ? outcomes : known, facts, options);
  SpeakOfTheDaemonSet(out.decision);
  if (!out.decision.allowed()) return out;  // refused: nothing is written
  out.decision.mutation.scheduling_gates.clear();  // a template is never gated: every pod would be
  std::string patch = WriteTemplatePatch(plan, out.decision.mutation);
  Json after;
  try {  // the patch applies by construction; a template it would not apply to is left alone
    after = Json{{"spec", {{"template", plan.sent}}}}.patch(patch.empty() ? Json::array() : Json::parse(patch));
    after = std::move(after["spec"]["template"]);
  } catch (const std::exception& e) {
    Decision left_alone{AdmissionResult::kError};
    left_alone.warnings.push_back(std::string("archway: node affinity not set: the template's patch does not apply: ") +
                                  e.what());
    out.decision = std::move(left_alone);
    return out;
  }
  const Json* sent_spec = Member(plan.sent, "spec");
  const Json* after_spec = Member(after, "spec");
  const Json& sent_affinity = sent_spec && Member(*sent_spec, "affinity") ? *Member(*sent_spec, "affinity") : EmptyObject();
  const Json& after_affinity =
      after_spec && Member(*after_spec, "affinity") ? *Member(*after_spec, "affinity") : EmptyObject();
  out.placement_changed = sent_affinity != after_affinity;
  const bool changed = out.placement_changed ||
                       AnnotationOf(plan.sent, kPlatformsAnnotation) != AnnotationOf(after, kPlatformsAnnotation) ||
                       (!plan.images_unchanged &&
                        AnnotationOf(plan.sent, kSkippedReasonAnnotation) != AnnotationOf(after, kSkippedReasonAnnotation));
  if (changed) {
    out.patch = std::move(patch);
  } else {
    out.decision.events.clear();  // recorded when the template got what it has
    if (out.decision.result == AdmissionResult::kMutated) out.decision.result = AdmissionResult::kUnchanged;
  }
  if (nodes && (out.decision.result == AdmissionResult::kMutated || out.decision.result == AdmissionResult::kUnchanged) &&
      !out.decision.mutation.required.empty()) {
    out.skipped = CountSkipped(plan, after, *nodes, known.empty() ? outcomes : known);
  }
  return out;
}

}  // namespace archway::webhook
