// The admission pipeline for one request body: parse the AdmissionReview, plan the pod,
// look up its images, decide (decision.h), write the patch (patch.h) and the answer.
//
// Each image reference is parsed once. An image the resolver knows from memory
// (Resolver::Cached: no request, no waiting) is answered on the caller's thread, so a pod
// whose images are all known is answered at once, without a hop through the look-up pool
// (the hop's context switches cost more than the rest of the request). The others are
// resolved concurrently on the pool (the pod waits for its slowest image, not the sum),
// at most `lookups_per_host` of one registry host at once (lookup_slots.h: a hung
// registry cannot hold every thread and delay the look-ups at the others), and the answer
// comes within the time budget whatever the registries do: look-ups still running (or
// still queued) at the deadline are reported as unfinished and keep going in the
// background, so their results warm the resolver's cache for the next pod.
//
// Answers:
//  - not JSON / not an AdmissionReview / no uid: HTTP 400 (no valid review can be built);
//  - an apps/v1 DaemonSet CREATE or UPDATE (when `daemon_sets` is on): its pod template is
//    decided (daemonset.h); a look-up still running at the deadline admits it without
//    archway's requirement, and the template is patched through the API once the look-up
//    has finished (template_patcher.h);
//  - a pod placed by its DaemonSet's template (daemonset.h): allowed, unchanged, no look-up;
//  - not a Pod CREATE (a misconfigured webhook rule): allowed, unchanged, no warning;
//  - a Pod whose fields archway reads are malformed: allowed, unchanged, with a warning
//    (never block pod creation on archway's own limits: the chart uses failurePolicy Ignore);
//  - a pod created with archway's scheduling gate: labelled for the gate controller;
//  - look-ups unfinished at the budget (or failed transiently) with gate_on_miss: gated
//    (gates.h GateAtAdmission);
//  - otherwise Decide()'s decision, with the pod's namespace's preferred platforms
//    (namespace_preferences.h; a bad annotation adds its warning).
// dryRun requests have no side effects (no Event). An Event about a pod that has no name
// yet (made by a controller) is recorded on its controller (ownerReferences) and, through
// the gate controller, on the pod once it exists.
// In audit mode (options.mode) every answer goes through audit.h's AuditDecision: only
// the annotation archway.dev/would-require and warnings, never an affinity, a denial, an
// Event or a scheduling gate; archway_audit_pods_total counts the pods (not dry runs).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/http_server.h"
#include "registry/resolver.h"
#include "webhook/cluster.h"
#include "webhook/decision.h"
#include "webhook/lookup_slots.h"
#include "webhook/metrics.h"
#include "webhook/namespace_preferences.h"

namespace archway::webhook {

struct AdmissionRequest;  // review.h
struct TemplatePlan;      // daemonset.h
class TemplatePatcher;    // template_patcher.h

struct AdmitterOptions {
  DecisionOptions decision;
  Mode mode = Mode::kEnforce;
  std::chrono::milliseconds budget{2000};
  size_t lookup_threads = 8;
  // Look-ups of one registry host in flight at once (lookup_slots.h), so a hung registry
  // holds at most this many of the threads; 0: max(1, lookup_threads / 2). The others of
  // that host wait, in order, at most queued_lookups_per_host of them (beyond: unfinished).
  size_t lookups_per_host = 0;
  size_t queued_lookups_per_host = 256;
  // Scheduling gates (gates.h). gate_on_miss: a pod whose look-ups miss the budget is
  // gated (onMiss: gate, on an API server that serves gates). gate_controller: a gate
  // controller runs (there is an API server), so a pod created with archway's gate, or
  // whose Event must wait for its name, is labelled for it.
  bool gate_on_miss = false;
  bool gate_controller = false;
  std::chrono::milliseconds gate_timeout{std::chrono::minutes(2)};
  bool daemon_sets = true;  // workloads.daemonSets: decide DaemonSets' pod templates
};

// Optional collaborators: null = that feature is off.
struct AdmitterDeps {
  const PullSecretSource* secrets = nullptr;
  const NodeInventory* nodes = nullptr;
  const NamespacePreferences* namespaces = nullptr;  // per-namespace preferred platforms
  PodEventSink* events = nullptr;
  Metrics* metrics = nullptr;
  TemplatePatcher* templates = nullptr;  // DaemonSets' Events and templates patched after a miss
};

// The part of a `budget` kept for answering rather than waiting for look-ups: a tenth,
// between 10 and 200 ms. bench/gate-burst.sh: with none, 200 pods at once answered at a
// p99 of 1.09x a 500 ms budget on 2 cores.
std::chrono::milliseconds AnswerReserve(std::chrono::milliseconds budget);

class Admitter {
 public:
  // `resolver` must outlive the Admitter.
  Admitter(registry::Resolver& resolver, AdmitterOptions options, AdmitterDeps deps);
  ~Admitter();  // stops the pool; look-ups in flight are abandoned
  Admitter(const Admitter&) = delete;
  Admitter& operator=(const Admitter&) = delete;

  // The answer to one request body when it is known at once (not a review, a pod that
  // needs no look-up, every image known from memory). Otherwise nullopt, and `later` is
  // called exactly once with the answer, within min(budget, deadline_cap) of the request's
  // arrival: look-ups are waited for until AnswerReserve() before that, the time left to
  // decide, write and send the answer on a loaded machine. From a look-up thread or the
  // budget timer (run on `timer_executor`, e.g. the connection's), never from within this
  // call.
  std::optional<HttpResponse> Admit(std::string_view body, std::chrono::milliseconds deadline_cap,
                                    const boost::asio::any_io_executor& timer_executor, Respond later);

  const AdmitterOptions& options() const { return options_; }

 private:
  struct Pending;
  using Clock = std::chrono::steady_clock;

  // `body`: the review `request` was read from (Answer).
  HttpResponse Decided(const AdmissionRequest& request, std::string_view body, const PodPlan& plan,
                       const std::vector<ImageOutcome>& outcomes, Clock::time_point start);
  // daemonset_admission.cpp
  std::optional<HttpResponse> AdmitDaemonSet(AdmissionRequest& request, std::string_view body,
                                             std::chrono::milliseconds deadline_cap,
                                             const boost::asio::any_io_executor& timer_executor, Respond later,
                                             Clock::time_point start);
  HttpResponse DecidedDaemonSet(const AdmissionRequest& request, const TemplatePlan& plan,
                                const std::vector<ImageOutcome>& outcomes, Clock::time_point start);
  // A DaemonSet answered before its look-ups finished: the patcher places it now.
  void PlaceLater(const AdmissionRequest& request);
  // Looks up `missing` (by index into the pending's images) on the pool; answers later.
  std::optional<HttpResponse> Defer(const std::shared_ptr<Pending>& pending,
                                    std::vector<std::pair<size_t, registry::Reference>> missing,
                                    std::chrono::milliseconds deadline_cap);
  // `body` is the review `request` was read from: a pod with Events and no name yet has
  // who made it read from there (ReadPodOrigin), its Events going to its controller.
  HttpResponse Answer(const AdmissionRequest& request, std::string_view body, const PodPlan* plan,
                      const Decision& decided, Clock::time_point start);
  // Audit mode: what is answered instead of `decided` (counted in the audit metric);
  // nullopt in enforce mode.
  std::optional<Decision> Audit(const AdmissionRequest& request, const Decision& decided);
  // One outcome per image, from what the resolver has in memory (or why the reference does
  // not parse); returns the images it did not know, by index, with their references.
  std::vector<std::pair<size_t, registry::Reference>> FromMemory(const std::vector<std::string>& images,
                                                                 const registry::Keychain* keychain,
                                                                 std::vector<ImageOutcome>& outcomes);
  void LookUp(const std::shared_ptr<Pending>& pending, size_t index, const registry::Reference& ref);
  // The outcome of one of the pending's look-ups; the last one answers (or places a DaemonSet).
  void Record(const std::shared_ptr<Pending>& pending, size_t index, ImageOutcome outcome);
  void Finish(const std::shared_ptr<Pending>& pending);

  registry::Resolver& resolver_;
  AdmitterOptions options_;
  AdmitterDeps deps_;
  boost::asio::thread_pool pool_;
  LookupSlots lookup_slots_;  // look-ups on pool_, capped per registry host
};

}  // namespace archway::webhook
