#include "operator/controller.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "kube/informer.h"
#include "kube/job.h"
#include "kube/node.h"
#include "kube/object.h"
#include "kube/worker.h"
#include "kube/workqueue.h"
#include "operator/job_builder.h"
#include "operator/reconciler.h"

namespace archway::op {
namespace {

constexpr const char* kPushSecretType = "kubernetes.io/dockerconfigjson";

kube::InformerOptions InformerOptionsFor(const std::string& ns, const std::string& label_selector,
                                         const std::string& field_selector, std::chrono::milliseconds resync) {
  kube::InformerOptions options;
  options.ns = ns;
  options.label_selector = label_selector;
  options.field_selector = field_selector;
  options.resync = resync;
  return options;
}

}  // namespace

struct Controller::Impl {
  kube::Client& kube;
  OperatorConfig config;
  ControllerOptions options;
  Metrics* metrics;
  kube::Informer images;
  kube::Informer jobs;
  kube::Informer nodes;
  kube::Informer secrets;
  kube::WorkQueue queue;
  Reconciler reconciler;
  std::vector<std::thread> workers;
  std::thread starter;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> reconciles{0};
  std::mutex gauge_mu;

  Impl(kube::Client& k, registry::RegistryApi& registry, registry::Resolver& resolver, kube::EventRecorder* events,
       Metrics* m, OperatorConfig c, ControllerOptions o)
      : kube(k),
        config(c),
        options(o),
        metrics(m),
        images(k, kMultiArchImageResource, InformerOptionsFor(o.watch_namespace, "", "", c.resync)),
        jobs(k, kube::resources::kJobs,
             InformerOptionsFor(o.watch_namespace, std::string(kManagedByLabel) + "=archway", "", {})),
        nodes(k, kube::resources::kNodes, InformerOptionsFor("", "", "", {})),
        secrets(k, kube::resources::kSecrets,
                InformerOptionsFor(o.watch_namespace, "", std::string("type=") + kPushSecretType, {})),
        queue({.base_delay = o.min_backoff, .max_delay = o.max_backoff}),
        reconciler(ReconcilerDeps{.kube = &k,
                                  .images = &images,
                                  .jobs = &jobs,
                                  .nodes = &nodes,
                                  .secrets = &secrets,
                                  .registry = &registry,
                                  .resolver = &resolver,
                                  .events = events,
                                  .metrics = m,
                                  .config = c,
                                  .clock = {}}) {}

  bool Synced() const { return jobs.HasSynced() && nodes.HasSynced() && secrets.HasSynced() && images.HasSynced(); }

  void EnqueueOwner(const Json& job) {
    std::string owner = kube::LabelOf(job, kResourceLabel);
    if (!owner.empty()) queue.Add(kube::ObjectKey(kube::NamespaceOf(job), owner));
  }

  void EnqueueBuildResources() {
    for (const auto& mai : images.List())
      if (kube::ObjectAt(mai, {"spec", "build"}) != nullptr) queue.Add(kube::ObjectKey(mai));
  }

  void EnqueueSecretUsers(const Json& secret) {
    const std::string ns = kube::NamespaceOf(secret);
    const std::string name = kube::NameOf(secret);
    for (const auto& mai : images.List()) {
      if (kube::NamespaceOf(mai) == ns && kube::StringAt(mai, {"spec", "pushSecretRef", "name"}) == name)
        queue.Add(kube::ObjectKey(mai));
    }
  }

  void UpdateJobGauges() {
    if (!metrics) return;
    std::lock_guard<std::mutex> lock(gauge_mu);
    std::map<kube::JobPhase, int> counts;
    for (const auto& job : jobs.List()) ++counts[kube::ReadJobState(job).phase];
    metrics->SetJobsByPhase(counts);
  }

  void Work() {
    kube::RunWorker(
        queue, "multiarchimage",
        [this](const std::string& key) -> Result<kube::Requeue> {
          auto result = reconciler.Reconcile(key);
          if (!result.ok()) return result.error();
          return result->requeue_after;
        },
        [this](const std::string&, const Status& outcome) {
          ++reconciles;
          if (metrics) metrics->Reconciled(outcome.ok());
        });
  }

  void SetHandlers() {
    images.SetHandlers({.on_add = [this](const Json& o) { queue.Add(kube::ObjectKey(o)); },
                        .on_update = [this](const Json&, const Json& o) { queue.Add(kube::ObjectKey(o)); },
                        .on_delete = {}});
    auto job_changed = [this](const Json& job) {
      EnqueueOwner(job);
      UpdateJobGauges();
    };
    jobs.SetHandlers({.on_add = job_changed,
                      .on_update =
                          [job_changed](const Json& old_job, const Json& job) {
                            if (old_job != job) job_changed(job);  // else nothing to react to
                          },
                      .on_delete = job_changed});
    nodes.SetHandlers({.on_add = [this](const Json&) { EnqueueBuildResources(); },
                       .on_update =
                           [this](const Json& old_node, const Json& node) {
                             if (kube::ReadNode(old_node) != kube::ReadNode(node)) EnqueueBuildResources();
                           },
                       .on_delete = [this](const Json&) { EnqueueBuildResources(); }});
    secrets.SetHandlers({.on_add = [this](const Json& s) { EnqueueSecretUsers(s); },
                         .on_update =
                             [this](const Json& old_secret, const Json& s) {
                               if (old_secret != s) EnqueueSecretUsers(s);
                             },
                         .on_delete = [this](const Json& s) { EnqueueSecretUsers(s); }});
  }
};

Controller::Controller(kube::Client& kube, registry::RegistryApi& registry, registry::Resolver& resolver,
                       kube::EventRecorder* events, Metrics* metrics, OperatorConfig config, ControllerOptions options)
    : impl_(std::make_unique<Impl>(kube, registry, resolver, events, metrics, std::move(config), options)) {
  impl_->SetHandlers();
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  if (impl_->started.exchange(true)) return;
  // Jobs, Nodes and Secrets first, so the first reconciles see them.
  impl_->jobs.Start();
  impl_->nodes.Start();
  impl_->secrets.Start();
  impl_->images.Start();
  Impl* impl = impl_.get();
  impl->starter = std::thread([impl] {
    while (!impl->stopped && !impl->Synced()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (impl->stopped) return;
    log::Info("operator caches synced; starting workers", {{"workers", std::to_string(impl->options.workers)}});
    for (int i = 0; i < std::max(1, impl->options.workers); ++i) impl->workers.emplace_back([impl] { impl->Work(); });
  });
}

void Controller::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->queue.ShutDown();
  if (impl_->starter.joinable()) impl_->starter.join();
  for (auto& w : impl_->workers) w.join();
  impl_->images.Stop();
  impl_->jobs.Stop();
  impl_->nodes.Stop();
  impl_->secrets.Stop();
}

bool Controller::Synced() const { return impl_->Synced(); }

const kube::ObjectReader& Controller::DockerConfigSecrets() const { return impl_->secrets; }

bool Controller::WaitForSync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Synced()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int64_t Controller::ReconcileCount() const { return impl_->reconciles; }

}  // namespace archway::op
