#include "operator/controller.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "kube/informer.h"
#include "kube/workqueue.h"
#include "operator/job_builder.h"
#include "operator/reconciler.h"

namespace archway::op {
namespace {

std::string Label(const Json& object, const std::string& key) {
  const Json labels = object["metadata"].value("labels", Json::object());
  return labels.contains(key) && labels[key].is_string() ? labels[key].get<std::string>() : "";
}

// What about a Node matters for builder placement.
std::string NodeFingerprint(const Json& node) {
  std::string ready = "False";
  const Json status = node.value("status", Json::object());
  for (const auto& c : status.value("conditions", Json::array()))
    if (c.value("type", "") == "Ready") ready = c.value("status", "");
  bool unschedulable = node.contains("spec") && node["spec"].value("unschedulable", false);
  return node["metadata"].value("labels", Json::object()).dump() + ready + (unschedulable ? "u" : "");
}

std::string JobGaugeState(const Json& job) {
  const Json status = job.value("status", Json::object());
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("status", "") != "True") continue;
    if (c.value("type", "") == "Complete") return "succeeded";
    if (c.value("type", "") == "Failed") return "failed";
  }
  return status.value("active", 0) > 0 ? "running" : "pending";
}

kube::InformerOptions InformerOptionsFor(const std::string& ns, const std::string& label_selector,
                                         std::chrono::milliseconds resync) {
  kube::InformerOptions options;
  options.ns = ns;
  options.label_selector = label_selector;
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
  kube::WorkQueue queue;
  Reconciler reconciler;
  std::vector<std::thread> workers;
  std::thread starter;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> reconciles{0};
  std::mutex gauge_mu;

  Impl(kube::Client& k, registry::Client& registry, registry::Resolver& resolver, kube::EventRecorder* events,
       Metrics* m, OperatorConfig c, ControllerOptions o)
      : kube(k),
        config(c),
        options(o),
        metrics(m),
        images(k, kube::resources::kMultiArchImages, InformerOptionsFor(o.watch_namespace, "", c.resync)),
        jobs(k, kube::resources::kJobs,
             InformerOptionsFor(o.watch_namespace, std::string(kManagedByLabel) + "=archway", {})),
        nodes(k, kube::resources::kNodes, InformerOptionsFor("", "", {})),
        queue({.base_delay = o.min_backoff, .max_delay = o.max_backoff}),
        reconciler(ReconcilerDeps{.kube = &k,
                                  .images = &images,
                                  .jobs = &jobs,
                                  .nodes = &nodes,
                                  .registry = &registry,
                                  .resolver = &resolver,
                                  .events = events,
                                  .metrics = m,
                                  .config = c,
                                  .clock = {}}) {}

  void EnqueueOwner(const Json& job) {
    std::string owner = Label(job, kResourceLabel);
    if (!owner.empty()) queue.Add(kube::ObjectKey(job["metadata"].value("namespace", ""), owner));
  }

  void EnqueueBuildResources() {
    for (const auto& mai : images.List())
      if (mai.contains("spec") && mai["spec"].contains("build")) queue.Add(kube::ObjectKey(mai));
  }

  void UpdateJobGauges() {
    if (!metrics) return;
    std::lock_guard<std::mutex> lock(gauge_mu);
    std::map<std::string, int> counts;
    for (const auto& job : jobs.List()) ++counts[JobGaugeState(job)];
    metrics->SetJobsByState(counts);
  }

  void Work() {
    while (auto key = queue.Get()) {
      auto result = reconciler.Reconcile(*key);
      ++reconciles;
      if (metrics) metrics->Reconciled(result.ok());
      if (!result.ok()) {
        log::Warn("reconcile failed; retrying with backoff",
                  {{"key", *key}, {"error", result.error().message}, {"retries", std::to_string(queue.NumRequeues(*key))}});
        queue.AddRateLimited(*key);
      } else {
        queue.Forget(*key);
        if (result->requeue_after.count() > 0) queue.AddAfter(*key, result->requeue_after);
      }
      queue.Done(*key);
    }
  }
};

Controller::Controller(kube::Client& kube, registry::Client& registry, registry::Resolver& resolver,
                       kube::EventRecorder* events, Metrics* metrics, OperatorConfig config, ControllerOptions options)
    : impl_(std::make_unique<Impl>(kube, registry, resolver, events, metrics, std::move(config), options)) {
  Impl* impl = impl_.get();
  impl->images.SetHandlers({.on_add = [impl](const Json& o) { impl->queue.Add(kube::ObjectKey(o)); },
                            .on_update = [impl](const Json&, const Json& o) { impl->queue.Add(kube::ObjectKey(o)); },
                            .on_delete = {}});
  impl->jobs.SetHandlers({.on_add =
                              [impl](const Json& o) {
                                impl->EnqueueOwner(o);
                                impl->UpdateJobGauges();
                              },
                          .on_update =
                              [impl](const Json& old_job, const Json& o) {
                                if (old_job == o) return;  // nothing the reconciler could react to
                                impl->EnqueueOwner(o);
                                impl->UpdateJobGauges();
                              },
                          .on_delete =
                              [impl](const Json& o) {
                                impl->EnqueueOwner(o);
                                impl->UpdateJobGauges();
                              }});
  impl->nodes.SetHandlers({.on_add = [impl](const Json&) { impl->EnqueueBuildResources(); },
                           .on_update =
                               [impl](const Json& old_node, const Json& node) {
                                 if (NodeFingerprint(old_node) != NodeFingerprint(node)) impl->EnqueueBuildResources();
                               },
                           .on_delete = [impl](const Json&) { impl->EnqueueBuildResources(); }});
}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  if (impl_->started.exchange(true)) return;
  // Jobs and Nodes first, so the first reconciles see them.
  impl_->jobs.Start();
  impl_->nodes.Start();
  impl_->images.Start();
  Impl* impl = impl_.get();
  impl->starter = std::thread([impl] {
    while (!impl->stopped && !(impl->jobs.HasSynced() && impl->nodes.HasSynced() && impl->images.HasSynced()))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
}

bool Controller::Synced() const {
  return impl_->jobs.HasSynced() && impl_->nodes.HasSynced() && impl_->images.HasSynced();
}

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
