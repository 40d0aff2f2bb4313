#include "webhook/gates.h"

#include <algorithm>
#include <map>

#include "base/duration.h"
#include "webhook/patch.h"

namespace archway::webhook {
namespace {

bool Waiting(const ImageOutcome& outcome) {
  return outcome.state == ImageOutcome::State::kUnfinished ||
         (outcome.state == ImageOutcome::State::kFailed && outcome.transient);
}

bool FailedForGood(const ImageOutcome& outcome) {
  return outcome.state == ImageOutcome::State::kFailed && !outcome.transient;
}

const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string AnnotationOf(const Json& pod, const char* key) {
  const Json* metadata = Member(pod, "metadata");
  const Json* annotations = metadata ? Member(*metadata, "annotations") : nullptr;
  const Json* value = annotations ? Member(*annotations, key) : nullptr;
  return value && value->is_string() ? value->get<std::string>() : "";
}

// `pod` without archway's gate (every entry of that name) and labels: what every release writes.
Json WithoutGate(Json pod) {
  if (Json* spec = pod.is_object() && pod.contains("spec") ? &pod["spec"] : nullptr; spec && spec->is_object()) {
    auto gates = spec->find("schedulingGates");
    if (gates != spec->end() && gates->is_array()) {
      Json kept = Json::array();
      for (const auto& gate : *gates) {
        const Json* name = Member(gate, "name");
        if (!(name && name->is_string() && name->get<std::string>() == kGateName)) kept.push_back(gate);
      }
      if (kept.empty()) {
        spec->erase(gates);
      } else {
        *gates = std::move(kept);
      }
    }
  }
  return WithoutLabel(WithoutLabel(std::move(pod), kGatedLabel), kEventLabel);
}

// Released with no affinity: the reason in archway.dev/skipped-reason and in an Event.
GateRelease Unplaced(const Json& pod, GateOutcome outcome, const std::string& reason) {
  GateRelease release;
  release.outcome = outcome;
  release.pod = WithoutGate(pod);
  if (!release.pod.is_object()) release.pod = Json::object();  // operator[] below would throw
  Json& metadata = release.pod["metadata"];
  if (!metadata.is_object()) metadata = Json::object();
  if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) metadata["annotations"] = Json::object();
  metadata["annotations"][kSkippedReasonAnnotation] = reason;
  release.events.push_back(PodEvent{kNoPlatformAffinityReason, "node affinity not set: " + reason});
  release.summary = reason;
  return release;
}

// What the images' look-ups came to, for a pod released without them.
std::string Unresolved(const std::vector<ImageOutcome>& outcomes, bool permanent_only,
                       std::chrono::milliseconds gate_timeout) {
  std::vector<std::string> parts;
  for (const auto& outcome : outcomes) {
    if (FailedForGood(outcome)) {
      parts.push_back("could not inspect " + outcome.image + ": " + outcome.error);
    } else if (!permanent_only && outcome.state == ImageOutcome::State::kUnfinished) {
      parts.push_back("the look-up of " + outcome.image + " did not finish within gateTimeout (" +
                      FormatDuration(gate_timeout) + ")");
    } else if (!permanent_only && Waiting(outcome)) {
      parts.push_back("could not inspect " + outcome.image + " within gateTimeout (" + FormatDuration(gate_timeout) +
                      "): " + outcome.error);
    }
  }
  return Join(parts, "; ");
}

// The required terms of `mutation`, for a pod whose terms can only gain requirements:
// one alternative per term. nullopt when they are that already.
std::optional<std::set<OsArch>> NarrowIfNeeded(Mutation& mutation, const PodLayout& layout,
                                               const std::vector<ImageOutcome>& outcomes, const ClusterFacts& facts) {
  if (layout.required_terms == nullptr) return std::nullopt;  // no terms: anything may be set
  const bool several = std::any_of(mutation.required.begin(), mutation.required.end(),
                                   [](const std::vector<Requirements>& entry) { return entry.size() > 1; });
  if (!several) return std::nullopt;
  // Decide's alternatives may carry node-label requirements beyond os and arch (arm
  // variant, 32-bit arm on arm64, Windows build: platform_terms.h) that a product of OSes
  // and architectures would drop, letting the pod onto a node it cannot run on (a v7-only
  // image onto a Pi Zero). Then keep the alternative that admits the most architectures,
  // exactly as Decide wrote it.
  const std::vector<Requirements>* alternatives = nullptr;
  for (const auto& entry : mutation.required) {
    if (!entry.empty()) alternatives = &entry;
  }
  const bool labelled = alternatives != nullptr &&
                        std::any_of(alternatives->begin(), alternatives->end(), [](const Requirements& alternative) {
                          return std::any_of(alternative.begin(), alternative.end(), [](const Requirement& r) {
                            return r.key != kOsLabel && r.key != kArchLabel;
                          });
                        });
  if (labelled) {
    const Requirements* widest = nullptr;
    size_t widest_archs = 0;
    std::set<OsArch> kept;
    for (const auto& alternative : *alternatives) {
      std::vector<std::string> oses, archs;
      for (const auto& r : alternative) {
        if (r.key == kOsLabel) oses = r.values;
        if (r.key == kArchLabel) archs = r.values;
      }
      if (widest != nullptr && archs.size() * oses.size() <= widest_archs) continue;
      widest = &alternative;
      widest_archs = archs.size() * oses.size();
      kept.clear();
      for (const auto& os : oses) {
        for (const auto& arch : archs) kept.insert(OsArch{os, arch});
      }
    }
    const Requirements chosen = *widest;
    for (auto& entry : mutation.required) {
      if (!entry.empty()) entry = {chosen};
    }
    mutation.annotations[kPlatformsAnnotation] = JoinPlatforms(kept);
    return kept;
  }
  const std::set<OsArch> common = CommonPlatforms(outcomes).value_or(std::set<OsArch>{});
  const std::set<OsArch> product = NarrowToProduct(common, facts.ready_node_platforms);
  std::set<std::string> oses, archs;
  for (const auto& p : product) {
    oses.insert(p.os);
    archs.insert(p.arch);
  }
  Requirements alternative = {Requirement{kOsLabel, "In", {oses.begin(), oses.end()}},
                              Requirement{kArchLabel, "In", {archs.begin(), archs.end()}}};
  for (auto& entry : mutation.required) {
    if (!entry.empty()) entry = {alternative};
  }
  mutation.annotations[kPlatformsAnnotation] = JoinPlatforms(product);
  return product;
}

}  // namespace

bool IsTransient(ErrorCode code) {
  return code == ErrorCode::kTimeout || code == ErrorCode::kNetwork || code == ErrorCode::kUnavailable ||
         code == ErrorCode::kRateLimited;
}

bool CarriesGate(const Json& pod) {
  const Json* spec = Member(pod, "spec");
  const Json* gates = spec ? Member(*spec, "schedulingGates") : nullptr;
  if (!gates || !gates->is_array()) return false;
  return std::any_of(gates->begin(), gates->end(), [](const Json& gate) {
    const Json* name = Member(gate, "name");
    return name && name->is_string() && name->get<std::string>() == kGateName;
  });
}

std::optional<Decision> GateAtAdmission(const PodPlan& plan, const std::vector<ImageOutcome>& outcomes,
                                        std::chrono::milliseconds gate_timeout) {
  if (plan.untouched || !plan.skip_reason.empty() || !plan.node_name.empty()) return std::nullopt;
  if (std::any_of(outcomes.begin(), outcomes.end(), FailedForGood)) return std::nullopt;
  std::vector<std::string> why;
  for (const auto& outcome : outcomes) {
    if (outcome.state == ImageOutcome::State::kUnfinished) {
      why.push_back("the look-up of " + outcome.image + " did not finish within the time budget");
    } else if (Waiting(outcome)) {
      why.push_back("could not inspect " + outcome.image + " yet: " + outcome.error);
    }
  }
  if (why.empty()) return std::nullopt;
  Decision decision;
  decision.result = AdmissionResult::kGated;
  decision.mutation.scheduling_gates.push_back(kGateName);
  decision.mutation.labels.emplace(kGatedLabel, "true");
  decision.warnings.push_back("archway: node affinity pending: " + Join(why, "; ") +
                              "; the pod waits (SchedulingGated, gate " + kGateName + ") until it is placed, at most " +
                              FormatDuration(gate_timeout));
  return decision;
}

Decision HandOverAtAdmission() {
  Decision decision;
  decision.result = AdmissionResult::kGated;
  decision.mutation.labels.emplace(kGatedLabel, "true");
  decision.warnings.push_back(std::string("archway: the pod carries archway's scheduling gate ") + kGateName +
                              ": it is placed, and the gate lifted, by archway's gate controller");
  return decision;
}

void LabelForPodEvent(Decision& decision) {
  for (const PodEvent& event : decision.events) {
    if (event.reason == "NoCommonPlatform") decision.mutation.labels[kEventLabel] = event.reason;
  }
}

const char* GateOutcomeName(GateOutcome outcome) {
  switch (outcome) {
    case GateOutcome::kPlaced: return "placed";
    case GateOutcome::kNarrowed: return "narrowed";
    case GateOutcome::kNoCommonPlatform: return "no_common_platform";
    case GateOutcome::kSkipped: return "skipped";
    case GateOutcome::kFailed: return "failed";
    case GateOutcome::kTimedOut: return "timed_out";
    case GateOutcome::kReleasedElsewhere: return "released_elsewhere";
    case GateOutcome::kMalformed: return "malformed";
  }
  return "malformed";
}

namespace {

// A gated pod's terms can only gain requirements: narrows `mutation` to one alternative
// per term where Decide wrote several, and says on `release` what was left out.
void Narrow(Mutation& mutation, const PodLayout& layout, const std::vector<ImageOutcome>& outcomes,
            const ClusterFacts& facts, GateRelease& release) {
  if (auto narrowed = NarrowIfNeeded(mutation, layout, outcomes, facts)) {
    const std::set<OsArch> all = CommonPlatforms(outcomes).value_or(std::set<OsArch>{});
    std::set<OsArch> left_out;
    std::set_difference(all.begin(), all.end(), narrowed->begin(), narrowed->end(),
                        std::inserter(left_out, left_out.end()));
    if (!left_out.empty()) {
      release.outcome = GateOutcome::kNarrowed;
      release.events.push_back(PodEvent{
          kPlatformsNarrowedReason,
          "the images run on " + JoinPlatforms(all) +
              ", which needs one node affinity term per OS; the pod's own terms can only gain requirements while "
              "it is gated, so it was narrowed to " +
              JoinPlatforms(*narrowed) + " (left out: " + JoinPlatforms(left_out) + ")"});
    }
  }
}

}  // namespace

std::optional<GateRelease> PlanRelease(const Json& pod, const std::string& ns, const std::vector<ImageOutcome>& outcomes,
                                       const ClusterFacts& facts, const DecisionOptions& options, bool timed_out,
                                       std::chrono::milliseconds gate_timeout) {
  if (!CarriesGate(pod)) {
    GateRelease release;
    release.outcome = GateOutcome::kReleasedElsewhere;
    release.pod = WithoutLabel(WithoutLabel(pod, kGatedLabel), kEventLabel);
    release.summary = std::string("the gate ") + kGateName + " was removed by someone else: the pod is left as it is";
    return release;
  }
  auto plan = PlanPod(pod, ns, options);
  if (!plan.ok()) return Unplaced(pod, GateOutcome::kMalformed, plan.error().message);
  const bool decided_without_images = plan->untouched || !plan->skip_reason.empty();
  if (!decided_without_images) {
    bool same_images = outcomes.size() == plan->images.size();
    for (size_t i = 0; same_images && i < outcomes.size(); ++i) same_images = outcomes[i].image == plan->images[i];
    if (!same_images) {
      // The images changed since the look-ups started (a user's update): look up again.
      if (!timed_out) return std::nullopt;
      return Unplaced(pod, GateOutcome::kTimedOut,
                      "the pod's images changed while it waited, and gateTimeout (" + FormatDuration(gate_timeout) +
                          ") has passed");
    }
    if (std::any_of(outcomes.begin(), outcomes.end(), FailedForGood)) {
      return Unplaced(pod, GateOutcome::kFailed, Unresolved(outcomes, true, gate_timeout));
    }
    if (std::any_of(outcomes.begin(), outcomes.end(), Waiting)) {
      if (!timed_out) return std::nullopt;
      return Unplaced(pod, GateOutcome::kTimedOut, Unresolved(outcomes, false, gate_timeout));
    }
  }

  DecisionOptions release_options = options;
  const bool deny = options.policy == NoCommonPlatformPolicy::kDeny;
  if (deny) release_options.policy = NoCommonPlatformPolicy::kPending;
  Decision decision = Decide(*plan, decided_without_images ? std::vector<ImageOutcome>{} : outcomes, facts,
                             release_options);
  GateRelease release;
  release.events = decision.events;
  switch (decision.result) {
    case AdmissionResult::kMutated: release.outcome = GateOutcome::kPlaced; break;
    case AdmissionResult::kNoCommonPlatform: release.outcome = GateOutcome::kNoCommonPlatform; break;
    case AdmissionResult::kError: release.outcome = GateOutcome::kFailed; break;  // (handled above)
    default: release.outcome = GateOutcome::kSkipped; break;
  }
  if (deny) {
    for (auto& event : release.events) {
      event.note += "; policy deny cannot refuse a pod that already exists (it was admitted while its images were "
                    "looked up): it waits in Pending instead";
    }
  }
  if (decision.result == AdmissionResult::kMutated) Narrow(decision.mutation, plan->layout, outcomes, facts, release);
  const auto platforms = decision.mutation.annotations.find(kPlatformsAnnotation);
  const auto skipped = decision.mutation.annotations.find(kSkippedReasonAnnotation);
  release.summary = platforms != decision.mutation.annotations.end()  ? "platforms " + platforms->second
                    : skipped != decision.mutation.annotations.end() ? skipped->second
                                                                     : "namespace " + ns + " is skipped";
  const std::string patch = WritePatch(decision.mutation, plan->layout);
  Json patched = pod;
  if (!patch.empty()) {
    try {
      patched = pod.patch(Json::parse(patch));
    } catch (const std::exception& e) {
      return Unplaced(pod, GateOutcome::kMalformed, std::string("the pod could not be patched: ") + e.what());
    }
  }
  release.pod = WithoutGate(std::move(patched));
  return release;
}

std::set<OsArch> NarrowToProduct(const std::set<OsArch>& platforms, const std::optional<std::set<OsArch>>& ready) {
  std::map<std::string, std::set<std::string>> archs_of;
  for (const auto& p : platforms) archs_of[p.os].insert(p.arch);
  std::vector<std::string> oses;
  for (const auto& [os, archs] : archs_of) oses.push_back(os);
  // Every subset of OSes (few in practice: linux, windows); past 12, single OSes only.
  const size_t n = oses.size();
  const bool subsets = n <= 12;
  std::set<OsArch> best;
  std::pair<size_t, size_t> best_score{0, 0};  // (Ready platforms covered, size)
  const uint64_t end = subsets ? (uint64_t{1} << n) : n;
  for (uint64_t i = subsets ? 1 : 0; i < end; ++i) {
    const uint64_t mask = subsets ? i : (uint64_t{1} << i);
    std::optional<std::set<std::string>> shared;
    std::vector<std::string> chosen;
    for (size_t bit = 0; bit < n; ++bit) {
      if (!(mask & (uint64_t{1} << bit))) continue;
      chosen.push_back(oses[bit]);
      const auto& archs = archs_of[oses[bit]];
      if (!shared) {
        shared = archs;
      } else {
        std::set<std::string> both;
        std::set_intersection(shared->begin(), shared->end(), archs.begin(), archs.end(),
                              std::inserter(both, both.end()));
        shared = std::move(both);
      }
    }
    if (!shared || shared->empty()) continue;
    std::set<OsArch> product;
    for (const auto& os : chosen) {
      for (const auto& arch : *shared) product.insert(OsArch{os, arch});
    }
    size_t covered = 0;
    if (ready) {
      for (const auto& p : product) covered += ready->count(p);
    }
    const std::pair<size_t, size_t> score{covered, product.size()};
    if (score > best_score) {
      best_score = score;
      best = std::move(product);
    }
  }
  return best;
}

std::optional<PodEvent> PendingPodEvent(const Json& pod) {
  const Json* metadata = Member(pod, "metadata");
  const Json* labels = metadata ? Member(*metadata, "labels") : nullptr;
  const Json* reason = labels ? Member(*labels, kEventLabel) : nullptr;
  if (!reason || !reason->is_string() || reason->get<std::string>() != "NoCommonPlatform") return std::nullopt;
  std::string note = AnnotationOf(pod, kSkippedReasonAnnotation);
  if (note.empty()) note = "the images have no platform in common";
  return PodEvent{"NoCommonPlatform", note};
}

Json WithoutLabel(Json pod, const std::string& key) {
  if (!pod.is_object()) return pod;
  auto metadata = pod.find("metadata");
  if (metadata == pod.end() || !metadata->is_object()) return pod;
  auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return pod;
  labels->erase(key);
  if (labels->empty()) metadata->erase(labels);
  return pod;
}

}  // namespace archway::webhook
