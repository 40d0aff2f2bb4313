#include "webhook/admitter.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <mutex>

#include "base/log.h"
#include "kube/object.h"
#include "registry/reference.h"
#include "webhook/audit.h"
#include "webhook/daemonset.h"
#include "webhook/gates.h"
#include "webhook/image_outcome.h"
#include "webhook/patch.h"
#include "webhook/review.h"

namespace archway::webhook {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::chrono::milliseconds AnswerReserve(std::chrono::milliseconds budget) {
  return std::clamp(budget / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(200));
}

// One admission waiting on look-ups.
struct Admitter::Pending {
  explicit Pending(const boost::asio::any_io_executor& executor) : timer(executor) {}
  const std::vector<std::string>& Images() const { return daemon_set ? daemon_set->pod.images : plan.images; }

  Clock::time_point start;
  AdmissionRequest request;
  PodPlan plan;  // views request.object
  std::optional<TemplatePlan> daemon_set;  // a DaemonSet's template instead of a pod
  std::string review;  // the body, for a pod with no name yet (Answer reads who made it)
  std::shared_ptr<const registry::Keychain> keychain;
  Respond later;
  boost::asio::steady_timer timer;

  std::mutex mu;
  std::vector<ImageOutcome> outcomes;  // guarded by mu
  size_t remaining = 0;                // guarded by mu
  bool answered = false;               // guarded by mu
};

Admitter::Admitter(registry::Resolver& resolver, AdmitterOptions options, AdmitterDeps deps)
    : resolver_(resolver),
      options_(std::move(options)),
      deps_(deps),
      pool_(std::max<size_t>(1, options_.lookup_threads)),
      lookup_slots_(pool_.get_executor(),
                    LookupSlotsOptions{options_.lookups_per_host != 0 ? options_.lookups_per_host
                                                                      : std::max<size_t>(1, options_.lookup_threads / 2),
                                       options_.queued_lookups_per_host, 16 * options_.queued_lookups_per_host}) {}

Admitter::~Admitter() {
  pool_.stop();
  pool_.join();
}

std::optional<HttpResponse> Admitter::Admit(std::string_view body, std::chrono::milliseconds deadline_cap,
                                            const boost::asio::any_io_executor& timer_executor, Respond later) {
  const auto start = Clock::now();
  auto parsed = ParseAdmissionReview(body);
  if (!parsed.ok()) {
    if (deps_.metrics) deps_.metrics->Admission(AdmissionResult::kBadRequest, SecondsSince(start));
    return HttpResponse{400, parsed.error().message + "\n", "text/plain"};
  }
  AdmissionRequest& request = *parsed;
  if (!request.IsPodCreate()) {
    if (request.IsDaemonSet() && options_.daemon_sets &&
        (request.operation == "CREATE" || request.operation == "UPDATE")) {
      return AdmitDaemonSet(request, body, deadline_cap, timer_executor, std::move(later), start);
    }
    return Answer(request, body, nullptr, Decision{AdmissionResult::kIgnored}, start);
  }
  auto plan = PlanPod(request.object, request.ns, options_.decision);
  if (!plan.ok()) {
    Decision decision{AdmissionResult::kError};
    decision.warnings.push_back("archway: node affinity not set: " + plan.error().message);
    log::Warn("pod not inspected", {{"namespace", request.ns}, {"pod", request.name}, {"error", plan.error().message}});
    return Answer(request, body, nullptr, decision, start);
  }
  if (options_.gate_controller && !plan->untouched && CarriesGate(request.object)) {
    return Answer(request, body, &*plan, HandOverAtAdmission(), start);
  }
  if (plan->platforms_annotated && plan->skip_reason.empty() && PlacedByDaemonSetTemplate(ReadPodOrigin(body))) {
    return Answer(request, body, nullptr, Decision{AdmissionResult::kFromTemplate}, start);
  }
  const bool node_check = deps_.nodes != nullptr && deps_.nodes->HasSynced();
  if (!plan->skip_reason.empty() || (!plan->node_name.empty() && !node_check)) {
    return Answer(request, body, &*plan, Decide(*plan, {}, ClusterFacts{}, options_.decision), start);
  }

  std::shared_ptr<const registry::Keychain> keychain;
  if (deps_.secrets) keychain = deps_.secrets->KeychainFor(request.ns, plan->pull_secrets);
  std::vector<ImageOutcome> outcomes;
  std::vector<std::pair<size_t, registry::Reference>> missing = FromMemory(plan->images, keychain.get(), outcomes);
  if (missing.empty()) return Decided(request, body, *plan, outcomes, start);

  auto pending = std::make_shared<Pending>(timer_executor);
  pending->start = start;
  pending->request = std::move(request);  // the plan's views into the pod move with it
  pending->plan = std::move(*plan);
  if (pending->request.name.empty()) pending->review = body;  // Answer may need who made the pod
  pending->later = std::move(later);
  pending->keychain = std::move(keychain);
  pending->outcomes = std::move(outcomes);
  return Defer(pending, std::move(missing), deadline_cap);
}

std::optional<HttpResponse> Admitter::AdmitDaemonSet(AdmissionRequest& request, std::string_view body,
                                                     std::chrono::milliseconds deadline_cap,
                                                     const boost::asio::any_io_executor& timer_executor, Respond later,
                                                     Clock::time_point start) {
  auto plan = PlanDaemonSet(request.object, request.old_object, request.ns, options_.decision);
  if (!plan.ok()) {
    Decision decision{AdmissionResult::kError};
    decision.warnings.push_back("archway: node affinity not set: " + plan.error().message);
    log::Warn("DaemonSet not inspected",
              {{"namespace", request.ns}, {"daemonset", request.name}, {"error", plan.error().message}});
    return Answer(request, body, nullptr, decision, start);
  }
  if (!plan->NeedsLookUp()) return DecidedDaemonSet(request, *plan, {}, start);
  std::shared_ptr<const registry::Keychain> keychain;
  if (deps_.secrets) keychain = deps_.secrets->KeychainFor(request.ns, plan->pod.pull_secrets);
  std::vector<ImageOutcome> outcomes;
  auto missing = FromMemory(plan->pod.images, keychain.get(), outcomes);
  if (missing.empty()) return DecidedDaemonSet(request, *plan, outcomes, start);

  auto pending = std::make_shared<Pending>(timer_executor);
  pending->start = start;
  pending->request = std::move(request);
  pending->daemon_set = std::move(*plan);
  pending->later = std::move(later);
  pending->keychain = std::move(keychain);
  pending->outcomes = std::move(outcomes);
  return Defer(pending, std::move(missing), deadline_cap);
}

std::optional<HttpResponse> Admitter::Defer(const std::shared_ptr<Pending>& pending,
                                            std::vector<std::pair<size_t, registry::Reference>> missing,
                                            std::chrono::milliseconds deadline_cap) {
  pending->remaining = missing.size();
  const auto budget = std::min(options_.budget, deadline_cap);
  const auto wait_until = pending->start + budget - AnswerReserve(budget);
  pending->timer.expires_at(std::max(wait_until, Clock::now() + std::chrono::milliseconds(1)));
  pending->timer.async_wait([this, pending](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: every look-up finished first
    Finish(pending);
  });
  for (auto& [index, ref] : missing) {
    const std::string host = ref.domain;
    auto job = [this, pending, index = index, ref = std::move(ref)] { LookUp(pending, index, ref); };
    if (!lookup_slots_.Run(host, std::move(job))) {
      // Too many look-ups of that registry waiting already: this one stays unfinished.
      ImageOutcome unfinished;
      unfinished.image = pending->Images()[index];
      boost::asio::post(pending->timer.get_executor(),
                        [this, pending, index = index, unfinished] { Record(pending, index, unfinished); });
    }
  }
  return std::nullopt;
}

std::vector<std::pair<size_t, registry::Reference>> Admitter::FromMemory(const std::vector<std::string>& images,
                                                                         const registry::Keychain* keychain,
                                                                         std::vector<ImageOutcome>& outcomes) {
  std::vector<std::pair<size_t, registry::Reference>> missing;
  for (const auto& image : images) {
    auto ref = registry::ParseReference(image);
    if (!ref.ok()) {
      outcomes.push_back(FailedOutcome(image, ref.error().message));
      continue;
    }
    auto known = resolver_.Cached(*ref, keychain);
    if (!known.ok()) {
      outcomes.push_back(FailedOutcome(image, *ref, known.error()));
    } else if (*known) {
      outcomes.push_back(ResolvedOutcome(image, **known));
    } else {
      outcomes.emplace_back().image = image;  // kUnfinished until looked up
      missing.emplace_back(outcomes.size() - 1, std::move(*ref));
    }
  }
  return missing;
}

void Admitter::LookUp(const std::shared_ptr<Pending>& pending, size_t index, const registry::Reference& ref) {
  const std::string& image = pending->Images()[index];
  Record(pending, index, OutcomeOf(image, ref, resolver_.Resolve(ref, pending->keychain.get())));
}

void Admitter::Record(const std::shared_ptr<Pending>& pending, size_t index, ImageOutcome outcome) {
  bool last = false;
  bool after_the_answer = false;
  {
    std::lock_guard lock(pending->mu);
    pending->outcomes[index] = std::move(outcome);
    last = --pending->remaining == 0 && !pending->answered;
    after_the_answer = pending->remaining == 0 && pending->answered;
  }
  if (last) {
    boost::asio::post(pending->timer.get_executor(), [pending] { pending->timer.cancel(); });
    Finish(pending);
  }
  if (after_the_answer && pending->daemon_set) PlaceLater(pending->request);
}

void Admitter::Finish(const std::shared_ptr<Pending>& pending) {
  std::vector<ImageOutcome> outcomes;
  {
    std::lock_guard lock(pending->mu);
    if (pending->answered) return;
    pending->answered = true;
    outcomes = pending->outcomes;
  }
  HttpResponse answer = pending->daemon_set
                            ? DecidedDaemonSet(pending->request, *pending->daemon_set, outcomes, pending->start)
                            : Decided(pending->request, pending->review, pending->plan, outcomes, pending->start);
  auto later = std::move(pending->later);
  pending->request.object = nullptr;  // look-ups may outlive the answer; the pod is no longer needed
  pending->request.old_object = nullptr;
  later(std::move(answer));
}

HttpResponse Admitter::Decided(const AdmissionRequest& request, std::string_view body, const PodPlan& plan,
                             const std::vector<ImageOutcome>& outcomes, Clock::time_point start) {
  ClusterFacts facts;
  if (deps_.nodes != nullptr && deps_.nodes->HasSynced()) {
    facts.ready_node_platforms = deps_.nodes->ReadyPlatforms();
    if (!plan.node_name.empty()) facts.pinned_node_platform = deps_.nodes->PlatformOf(plan.node_name);
    facts.arm_variant_labels = deps_.nodes->ArmVariantLabels();
  }
  std::optional<Decision> gated;
  // Audit mode never gates: a pod it would gate is admitted as it is (audit.h).
  if (options_.gate_on_miss && options_.mode != Mode::kAudit) gated = GateAtAdmission(plan, outcomes, options_.gate_timeout);
  const NamespaceOptions decide_with = OptionsForNamespace(options_.decision, request.ns, deps_.namespaces);
  Decision decision = gated ? std::move(*gated) : Decide(plan, outcomes, facts, decide_with.options());
  if (!decide_with.warning().empty()) decision.warnings.push_back(decide_with.warning());
  if (decision.arm_labels_missing && deps_.metrics) deps_.metrics->ArmLabelsMissing();
  if (options_.gate_controller && request.name.empty()) LabelForPodEvent(decision);
  if (decision.result == AdmissionResult::kError || decision.result == AdmissionResult::kNoCommonPlatform ||
      decision.result == AdmissionResult::kDenied || decision.result == AdmissionResult::kGated) {
    log::Info("pod admitted without platform affinity",
              {{"namespace", request.ns}, {"pod", request.name}, {"result", ResultName(decision.result)},
               {"warnings", decision.warnings.empty() ? std::string() : decision.warnings.front()}});
  }
  return Answer(request, body, &plan, decision, start);
}

std::optional<Decision> Admitter::Audit(const AdmissionRequest& request, const Decision& decided) {
  if (options_.mode != Mode::kAudit) return std::nullopt;
  AuditedDecision audited = AuditDecision(decided);
  if (deps_.metrics && !request.dry_run) deps_.metrics->AuditedPod(request.ns, audited.outcome);
  return std::move(audited.decision);
}

HttpResponse Admitter::Answer(const AdmissionRequest& request, std::string_view body, const PodPlan* plan,
                              const Decision& decided,
                            Clock::time_point start) {
  const std::optional<Decision> audited = Audit(request, decided);
  const Decision& decision = audited ? *audited : decided;
  if (deps_.events != nullptr && !request.dry_run && !decision.events.empty()) {
    // A pod with no name yet (made by a controller): the Event goes to its controller now,
    // and to the pod once it exists (LabelForPodEvent, the gate controller).
    std::optional<kube::OwnerReference> owner;
    std::string generate_name;
    if (request.name.empty()) {
      const Json origin = ReadPodOrigin(body);
      generate_name = kube::StringAt(origin, {"metadata", "generateName"}).value_or("");
      for (auto& candidate : kube::OwnerReferencesOf(origin)) {
        if (candidate.controller && !candidate.name.empty()) owner = std::move(candidate);
      }
    }
    for (PodEvent event : decision.events) {
      if (!request.name.empty()) {
        boost::asio::post(pool_, [events = deps_.events, ns = request.ns, name = request.name, event] {
          events->Warn(ns, name, event.reason, event.note);
        });
      } else if (owner) {
        event.note = "a pod of " + owner->kind + " " + owner->name + " (" + generate_name + "...): " + event.note;
        boost::asio::post(pool_, [events = deps_.events, ns = request.ns, owner = *owner, event] {
          events->WarnController(ns, owner, event.reason, event.note);
        });
      }
    }
  }
  const std::string patch = plan != nullptr ? WritePatch(decision.mutation, plan->layout) : std::string();
  HttpResponse answer{200, EncodeAdmissionResponse(request, decision, patch), "application/json"};
  if (deps_.metrics) deps_.metrics->Admission(decision.result, SecondsSince(start));
  return answer;
}

}  // namespace archway::webhook
