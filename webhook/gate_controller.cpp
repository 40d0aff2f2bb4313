#include "webhook/gate_controller.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/log.h"
#include "kube/errors.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader.h"
#include "kube/object.h"
#include "kube/time.h"
#include "kube/worker.h"
#include "kube/workqueue.h"
#include "registry/reference.h"
#include "webhook/gates.h"
#include "webhook/image_outcome.h"
#include "webhook/lookup_slots.h"

namespace archway::webhook {
namespace {

using SystemClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

kube::InformerOptions Selecting(const std::string& selector) {
  kube::InformerOptions options;
  options.label_selector = selector;
  return options;
}

// The pod's creationTimestamp; `fallback` when it has none that parses (the API always sets it).
SystemClock::time_point CreatedAt(const Json& pod, SystemClock::time_point fallback) {
  auto text = kube::StringAt(pod, {"metadata", "creationTimestamp"});
  if (!text) return fallback;
  auto parsed = kube::ParseTime(*text);
  return parsed.ok() ? *parsed : fallback;
}

Json Regarding(const Json& pod) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", kube::NameOf(pod)}, {"namespace", kube::NamespaceOf(pod)}, {"uid", kube::UidOf(pod)}}}};
}

// "<pod>.<uid prefix>.<reason>": one name per pod and reason, so recording it twice is refused.
std::string EventNameFor(const Json& pod, const std::string& reason) {
  std::string lower;
  for (char c : reason) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kube::NameOf(pod).substr(0, 200) + "." + kube::UidOf(pod).substr(0, 8) + "." + lower;
}

double SecondsSince(SystemClock::time_point t) {
  return std::max(0.0, std::chrono::duration<double>(SystemClock::now() - t).count());
}

}  // namespace

// One term of leadership: the caches, the queue and the workers, made when the Lease is
// won and dropped when it is lost (an Informer starts once; a WorkQueue shuts down for good).
struct Term {
  std::weak_ptr<Term> self;
  kube::WorkQueue queue{kube::WorkQueueOptions{milliseconds(20), milliseconds(10000)}};
  std::unique_ptr<kube::Informer> gated;
  std::unique_ptr<kube::Informer> events;
  std::vector<std::thread> workers;

  // Look-ups of a pod's images: what the controller's own look-ups answered, so a result
  // the resolver does not keep in memory (a failure it forgot) is not looked up in a loop.
  struct LookUps {
    std::string uid;
    bool running = false;
    SteadyClock::time_point finished{};
    std::map<std::string, ImageOutcome> done;  // by image
  };
  std::mutex mu;
  std::map<std::string, LookUps> lookups;  // by pod key; guarded by mu
  std::set<std::string> gated_keys;        // pods carrying the gate, for the gauge; guarded by mu
};

struct GateController::Impl {
  Impl(kube::Client& c, registry::Resolver& r, GateControllerOptions o, GateControllerDeps d)
      : client(c),
        resolver(r),
        options(std::move(o)),
        deps(d),
        recorder(c, kube::EventSource{"archway.dev/webhook", options.identity}),
        pool(std::max<size_t>(1, options.lookup_threads)),
        lookup_slots(pool.get_executor(), LookupSlotsOptions{std::max<size_t>(1, options.lookup_threads / 2)}) {}

  kube::Client& client;
  registry::Resolver& resolver;
  GateControllerOptions options;
  GateControllerDeps deps;
  kube::EventRecorder recorder;
  boost::asio::thread_pool pool;
  LookupSlots lookup_slots;  // look-ups on pool, capped per registry host (a hung one holds half)
  std::unique_ptr<kube::LeaderElector> elector;

  mutable std::mutex term_mu;
  std::shared_ptr<Term> term;  // set while leading

  // --- leadership --------------------------------------------------------------------

  void StartTerm() {
    auto t = std::make_shared<Term>();
    t->self = t;
    std::weak_ptr<Term> weak = t;
    kube::InformerHandlers handlers{
        .on_add = [this, weak](const Json& pod) { Observe(weak, pod, false); },
        .on_update = [this, weak](const Json&, const Json& pod) { Observe(weak, pod, false); },
        .on_delete = [this, weak](const Json& pod) { Observe(weak, pod, true); },
    };
    t->gated = std::make_unique<kube::Informer>(client, kube::resources::kPods,
                                                Selecting(std::string(kGatedLabel) + "=true"));
    t->events = std::make_unique<kube::Informer>(client, kube::resources::kPods, Selecting(kEventLabel));
    t->gated->SetHandlers(handlers);
    t->events->SetHandlers(handlers);
    t->gated->Start();
    t->events->Start();
    for (size_t i = 0; i < std::max<size_t>(1, options.workers); ++i) {
      t->workers.emplace_back([this, raw = t.get()] {
        kube::RunWorker(raw->queue, "gates", [this, raw](const std::string& key) { return Reconcile(*raw, key); });
      });
    }
    std::lock_guard lock(term_mu);
    term = std::move(t);
  }

  void StopTerm() {
    std::shared_ptr<Term> ended;
    {
      std::lock_guard lock(term_mu);
      ended = std::move(term);
    }
    if (!ended) return;
    ended->queue.ShutDown();
    for (auto& worker : ended->workers) worker.join();
    ended->gated->Stop();
    ended->events->Stop();
    if (deps.metrics) deps.metrics->GatedPods(0);
  }

  void Observe(const std::weak_ptr<Term>& weak, const Json& pod, bool deleted) {
    auto t = weak.lock();
    if (!t) return;
    const std::string key = kube::ObjectKey(pod);
    size_t gated = 0;
    {
      std::lock_guard lock(t->mu);
      if (!deleted && CarriesGate(pod) && kube::LabelOf(pod, kGatedLabel) == "true") {
        t->gated_keys.insert(key);
      } else {
        t->gated_keys.erase(key);
      }
      gated = t->gated_keys.size();
    }
    if (deps.metrics) deps.metrics->GatedPods(gated);
    t->queue.Add(key);
  }

  // --- reconcile ---------------------------------------------------------------------

  Result<kube::Requeue> Reconcile(Term& t, const std::string& key) {
    auto [ns, name] = kube::SplitObjectKey(key);
    std::optional<Json> pod = t.gated->Get(ns, name);
    if (!pod) pod = t.events->Get(ns, name);
    if (!pod) {
      std::lock_guard lock(t.mu);
      t.lookups.erase(key);  // deleted: nothing is left behind
      return kube::Requeue(0);
    }
    if (kube::IsBeingDeleted(*pod)) return kube::Requeue(0);
    if (kube::LabelOf(*pod, kGatedLabel) == "true") return ReconcileGated(t, key, *pod);
    if (!kube::LabelOf(*pod, kEventLabel).empty()) return ReconcileEvent(key, *pod);
    return kube::Requeue(0);
  }

  ClusterFacts Facts() const {
    ClusterFacts facts;
    if (deps.nodes != nullptr && deps.nodes->HasSynced()) {
      facts.ready_node_platforms = deps.nodes->ReadyPlatforms();
      facts.arm_variant_labels = deps.nodes->ArmVariantLabels();
    }
    return facts;
  }

  // Each image's outcome as far as memory knows (unknown ones kUnfinished); starts the
  // look-ups of the unknown ones unless they are running.
  std::vector<ImageOutcome> Outcomes(Term& t, const std::string& key, const Json& pod, const PodPlan& plan,
                                     bool may_look_up) {
    const std::string uid = kube::UidOf(pod);
    std::shared_ptr<const registry::Keychain> keychain;
    if (deps.secrets) keychain = deps.secrets->KeychainFor(kube::NamespaceOf(pod), plan.pull_secrets);
    std::vector<ImageOutcome> outcomes;
    std::vector<std::pair<std::string, registry::Reference>> missing;  // image, its reference
    std::lock_guard lock(t.mu);
    Term::LookUps& mine = t.lookups[key];
    if (mine.uid != uid) {
      mine = Term::LookUps{};
      mine.uid = uid;
    }
    const bool retry_due = SteadyClock::now() - mine.finished >= options.retry_transient;
    for (const auto& image : plan.images) {
      auto ref = registry::ParseReference(image);
      if (!ref.ok()) {
        outcomes.push_back(FailedOutcome(image, ref.error().message));
        continue;
      }
      auto known = resolver.Cached(*ref, keychain.get());
      if (!known.ok()) {
        outcomes.push_back(FailedOutcome(image, *ref, known.error()));
      } else if (*known) {
        outcomes.push_back(ResolvedOutcome(image, **known));
      } else if (auto it = mine.done.find(image);
                 it != mine.done.end() && !(it->second.transient && retry_due) && !mine.running) {
        outcomes.push_back(it->second);
      } else {
        outcomes.emplace_back().image = image;  // kUnfinished
        missing.emplace_back(image, std::move(*ref));
      }
    }
    if (!missing.empty() && may_look_up && !mine.running) {
      mine.running = true;
      LookUp(t, key, uid, std::move(missing), std::move(keychain));
    }
    return outcomes;
  }

  // Requires t.mu. Resolves `images` on the pool, each as a job of its registry host
  // (lookup_slots.h), then queues the pod again.
  void LookUp(Term& t, const std::string& key, const std::string& uid,
              std::vector<std::pair<std::string, registry::Reference>> images,
              std::shared_ptr<const registry::Keychain> keychain) {
    struct Batch {
      std::mutex mu;
      size_t remaining = 0;                      // guarded by mu
      std::map<std::string, ImageOutcome> done;  // by image; guarded by mu
    };
    auto batch = std::make_shared<Batch>();
    batch->remaining = images.size();
    auto record = [batch, weak = t.self, key, uid](const std::string& image, ImageOutcome outcome) {
      {
        std::lock_guard lock(batch->mu);
        batch->done[image] = std::move(outcome);
        if (--batch->remaining != 0) return;
      }
      Looked(weak, key, uid, std::move(batch->done));
    };
    for (auto& [image, ref] : images) {
      const std::string host = ref.domain;
      auto job = [this, record, keychain, image = image, ref = ref] {
        auto platforms = resolver.Resolve(ref, keychain.get());
        record(image, platforms.ok() ? ResolvedOutcome(image, *platforms) : FailedOutcome(image, ref, platforms.error()));
      };
      if (!lookup_slots.Run(host, std::move(job))) {
        // Too many look-ups of that registry waiting already: tried again after retry_transient.
        const Error refused(ErrorCode::kRateLimited, "too many look-ups at " + host + " already waiting");
        boost::asio::post(pool, [record, image = image, ref = ref, refused] {
          record(image, FailedOutcome(image, ref, refused));
        });
      }
    }
  }

  // A pod's look-ups have all ended: keeps what they answered and queues the pod again.
  static void Looked(const std::weak_ptr<Term>& weak, const std::string& key, const std::string& uid,
                     std::map<std::string, ImageOutcome> done) {
    auto t = weak.lock();
    if (!t) return;  // the term ended; the resolver keeps what it learned
    {
      std::lock_guard lock(t->mu);
      auto it = t->lookups.find(key);
      if (it == t->lookups.end() || it->second.uid != uid) return;
      it->second.running = false;
      it->second.finished = SteadyClock::now();
      for (auto& [image, outcome] : done) it->second.done[image] = std::move(outcome);
    }
    t->queue.Add(key);
  }

  Result<kube::Requeue> ReconcileGated(Term& t, const std::string& key, const Json& cached) {
    const auto now = SystemClock::now();
    const auto deadline = CreatedAt(cached, now) + options.gate_timeout;
    const bool timed_out = now >= deadline;
    const std::string ns = kube::NamespaceOf(cached);
    std::vector<ImageOutcome> outcomes;
    auto plan = PlanPod(cached, ns, options.decision);
    if (plan.ok() && !plan->untouched && plan->skip_reason.empty() && CarriesGate(cached)) {
      outcomes = Outcomes(t, key, cached, *plan, !timed_out);
    }
    const ClusterFacts facts = Facts();
    const NamespaceOptions decide_with = OptionsForNamespace(options.decision, ns, deps.namespaces);
    auto release = PlanRelease(cached, ns, outcomes, facts, decide_with.options(), timed_out, options.gate_timeout);
    if (!release) {
      // Waiting: woken by the look-ups' end, else at the deadline; transient failures sooner.
      auto wait = std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1);
      if (std::any_of(outcomes.begin(), outcomes.end(), [](const ImageOutcome& o) { return o.transient; })) {
        wait = std::min(wait, options.retry_transient);
      }
      return std::max(wait, milliseconds(1));
    }
    return Release(t, key, cached, outcomes, facts, decide_with.options(), timed_out);
  }

  // Updates the pod `cached` to what `change` makes of its latest copy (nullopt: leave it),
  // reading it again after a 409 Conflict. Answers the stored pod, or nullopt when nothing
  // was written: left as it was, gone, or another pod of the same name (its uid).
  Result<std::optional<Json>> UpdateWithFreshReads(const Json& cached,
                                                   const std::function<std::optional<Json>(const Json&)>& change) {
    const std::string ns = kube::NamespaceOf(cached);
    const std::string name = kube::NameOf(cached);
    const std::string uid = kube::UidOf(cached);
    std::optional<Json> stored;
    bool fresh = false;
    Json current = cached;
    Status status = kube::RetryOnConflict([&]() -> Status {
      stored.reset();
      if (fresh) {
        auto got = client.Get(kube::resources::kPods, ns, name);
        if (!got.ok()) return kube::IsNotFound(got.error()) ? Status::Ok() : Status(got.error());
        current = std::move(*got);
      }
      fresh = true;
      if (kube::UidOf(current) != uid) return Status::Ok();
      std::optional<Json> changed = change(current);
      if (!changed) return Status::Ok();
      auto updated = client.Update(kube::resources::kPods, ns, *changed);
      if (!updated.ok()) return kube::IsNotFound(updated.error()) ? Status::Ok() : Status(updated.error());
      stored = std::move(*updated);
      return Status::Ok();
    });
    if (!status.ok()) return status.error();
    return stored;
  }

  Result<kube::Requeue> Release(Term& t, const std::string& key, const Json& cached,
                                const std::vector<ImageOutcome>& outcomes, const ClusterFacts& facts,
                                const DecisionOptions& decide_with, bool timed_out) {
    std::optional<GateRelease> written;
    auto stored = UpdateWithFreshReads(cached, [&](const Json& current) -> std::optional<Json> {
      written.reset();
      if (kube::LabelOf(current, kGatedLabel) != "true") return std::nullopt;
      written = PlanRelease(current, kube::NamespaceOf(cached), outcomes, facts, decide_with, timed_out,
                            options.gate_timeout);
      // nullopt: it changed (new images): the next reconcile looks them up.
      return written ? std::optional<Json>(written->pod) : std::nullopt;
    });
    if (!stored.ok()) return stored.error();
    if (!*stored) written.reset();
    else written->pod = std::move(**stored);
    if (!written) return kube::Requeue(0);
    {
      std::lock_guard lock(t.mu);
      t.lookups.erase(key);
    }
    for (const PodEvent& event : written->events) {
      (void)recorder.Record(Regarding(written->pod), "Warning", event.reason, event.reason, event.note,
                            EventNameFor(written->pod, event.reason));
    }
    const double waited = SecondsSince(CreatedAt(cached, SystemClock::now()));
    if (deps.metrics) deps.metrics->GateReleased(written->outcome, waited);
    log::Info("gated pod released", {{"pod", key},
                                     {"result", GateOutcomeName(written->outcome)},
                                     {"waited_s", std::to_string(static_cast<int64_t>(waited))},
                                     {"summary", written->summary}});
    return kube::Requeue(0);
  }

  // A pod whose Event waited for its name: the Event, then the label off.
  Result<kube::Requeue> ReconcileEvent(const std::string& key, const Json& cached) {
    if (auto event = PendingPodEvent(cached)) {
      Status recorded = recorder.Record(Regarding(cached), "Warning", event->reason, event->reason, event->note,
                                        EventNameFor(cached, event->reason));
      if (!recorded.ok() && !kube::IsAlreadyExists(recorded.error())) return recorded.error();
    }
    auto stored = UpdateWithFreshReads(cached, [](const Json& current) -> std::optional<Json> {
      if (kube::LabelOf(current, kEventLabel).empty()) return std::nullopt;
      return WithoutLabel(current, kEventLabel);
    });
    if (!stored.ok()) return stored.error();
    log::Info("pod event recorded", {{"pod", key}, {"reason", kube::LabelOf(cached, kEventLabel)}});
    return kube::Requeue(0);
  }
};

GateController::GateController(kube::Client& client, registry::Resolver& resolver, GateControllerOptions options,
                               GateControllerDeps deps)
    : impl_(std::make_unique<Impl>(client, resolver, std::move(options), deps)) {}

GateController::~GateController() {
  Stop();
  impl_->pool.stop();
  impl_->pool.join();
}

void GateController::Start() {
  if (impl_->elector) return;
  kube::LeaderElectionConfig le;
  le.lease_namespace = impl_->options.lease_namespace;
  le.lease_name = impl_->options.lease_name;
  le.identity = impl_->options.identity;
  le.lease_duration = impl_->options.lease_duration;
  le.renew_deadline = impl_->options.lease_duration * 2 / 3;
  le.retry_period = std::min(milliseconds(2000), std::max(milliseconds(100), impl_->options.lease_duration / 7));
  le.on_started_leading = [this] {
    log::Info("gate controller: holding the Lease; releasing gated pods", {{"identity", impl_->options.identity}});
    impl_->StartTerm();
  };
  le.on_stopped_leading = [this] {
    log::Info("gate controller: Lease lost or released; stopped", {{"identity", impl_->options.identity}});
    impl_->StopTerm();
  };
  impl_->elector = std::make_unique<kube::LeaderElector>(impl_->client, le);
  impl_->elector->Start();
}

void GateController::Stop() {
  if (impl_->elector) impl_->elector->Stop();  // releases the Lease: on_stopped_leading ends the term
  impl_->StopTerm();
}

bool GateController::Leading() const {
  std::lock_guard lock(impl_->term_mu);
  return impl_->term != nullptr;
}

bool GateController::Synced() const {
  std::lock_guard lock(impl_->term_mu);
  return impl_->term != nullptr && impl_->term->gated->HasSynced() && impl_->term->events->HasSynced();
}

namespace {

// The leading digits of `text` from `at` (at most 6), advancing `at`; -1 when there are none.
int ReadNumber(const std::string& text, size_t& at) {
  int value = 0;
  size_t digits = 0;
  for (; at < text.size() && digits < 6 && std::isdigit(static_cast<unsigned char>(text[at])); ++at, ++digits) {
    value = value * 10 + (text[at] - '0');
  }
  return digits == 0 ? -1 : value;
}

}  // namespace

GateSupport SchedulingGatesIn(const Json& version) {
  GateSupport support;
  support.version = kube::StringAt(version, {"gitVersion"}).value_or("");
  // gitVersion first ("v1.28.15", "v1.29.3+k3s1", "v1.27.4-eks-2d98532"): an apiserver
  // built from source without the release's ldflags serves "major": "" and "minor": ""
  // (envtest's does), and some providers serve "minor": "28+".
  int major = -1;
  int minor = -1;
  size_t at = 0;
  if (support.version.size() > 1 && support.version[0] == 'v') {
    at = 1;
    major = ReadNumber(support.version, at);
    if (major >= 0 && at < support.version.size() && support.version[at] == '.') {
      ++at;
      minor = ReadNumber(support.version, at);
    } else {
      major = -1;
    }
  }
  if (major < 0 || minor < 0) {
    const std::string major_text = kube::StringAt(version, {"major"}).value_or("");
    const std::string minor_text = kube::StringAt(version, {"minor"}).value_or("");
    size_t major_at = 0;
    size_t minor_at = 0;
    major = ReadNumber(major_text, major_at);
    minor = ReadNumber(minor_text, minor_at);
  }
  if (major < 0 || minor < 0) {
    support.reason = "the API server's version (" + version.dump() + ") says no major and minor version";
    return support;
  }
  support.supported = major > 1 || (major == 1 && minor >= 27);
  if (!support.supported) {
    support.reason = "Kubernetes " + std::to_string(major) + "." + std::to_string(minor) +
                     " does not serve scheduling gates by default (1.27 or later does)";
  }
  return support;
}

GateSupport DetectSchedulingGates(kube::Client& client) {
  auto version = client.GetPath("/version");
  if (!version.ok()) {
    GateSupport support;
    support.reason = "cannot read the API server's version: " + version.error().message;
    return support;
  }
  return SchedulingGatesIn(*version);
}

}  // namespace archway::webhook
