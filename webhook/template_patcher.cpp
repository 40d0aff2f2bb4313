#include "webhook/template_patcher.h"

#include <algorithm>

#include "base/log.h"
#include "kube/client.h"
#include "kube/object.h"
#include "kube/worker.h"
#include "registry/reference.h"
#include "webhook/admitter.h"
#include "webhook/image_outcome.h"
#include "webhook/daemonset.h"

namespace archway::webhook {
namespace {

std::vector<std::string> SortedImages(const TemplatePlan& plan) {
  std::vector<std::string> images = plan.pod.images;
  std::sort(images.begin(), images.end());
  return images;
}

// `test` ops that make the patch fail unless the DaemonSet is still exactly what was read:
// its resourceVersion, and (what a stale patch must never do: pin new images to the old
// images' platforms) every image of its template.
Json TestOps(const Json& daemon_set) {
  Json ops = Json::array();
  if (auto rv = kube::StringAt(daemon_set, {"metadata", "resourceVersion"})) {
    ops.push_back(Json{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", *rv}});
  }
  for (const char* list : {"initContainers", "containers"}) {
    const Json* containers = kube::ArrayAt(daemon_set, {"spec", "template", "spec", list});
    if (!containers) continue;
    for (size_t i = 0; i < containers->size(); ++i) {
      if (auto image = kube::StringAt((*containers)[i], {"image"})) {
        ops.push_back(Json{{"op", "test"},
                       {"path", "/spec/template/spec/" + std::string(list) + "/" + std::to_string(i) + "/image"},
                       {"value", *image}});
      }
    }
  }
  return ops;
}

}  // namespace

TemplatePatcher::TemplatePatcher(DaemonSetApi& api, registry::Resolver& resolver, const PullSecretSource* secrets,
                                 const NodeInventory* nodes, const NamespacePreferences* namespaces, Metrics* metrics,
                                 TemplatePatcherOptions options)
    : api_(api),
      resolver_(resolver),
      secrets_(secrets),
      nodes_(nodes),
      namespaces_(namespaces),
      metrics_(metrics),
      options_(std::move(options)),
      queue_(options_.queue) {}

TemplatePatcher::~TemplatePatcher() { Stop(); }

void TemplatePatcher::Start() {
  worker_ = std::thread([this] {
    kube::RunWorker(queue_, "daemonset-templates", [this](const std::string& key) -> Result<kube::Requeue> {
      if (Status s = Reconcile(key); !s.ok()) return s.error();
      return kube::Requeue(0);
    });
  });
}

void TemplatePatcher::Stop() {
  queue_.ShutDown();
  if (worker_.joinable()) worker_.join();
}

void TemplatePatcher::Add(const std::string& key, Work work) {
  {
    std::lock_guard lock(mu_);
    Work& queued = work_[key];
    queued.place |= work.place;
    for (auto& report : work.reports) queued.reports.push_back(std::move(report));
  }
  queue_.Add(key);
}

void TemplatePatcher::Report(const std::string& ns, const std::string& name, std::vector<std::string> images,
                             std::vector<DaemonSetEvent> events) {
  std::sort(images.begin(), images.end());
  Work work;
  work.reports.emplace_back(std::move(images), std::move(events));
  Add(kube::ObjectKey(ns, name), std::move(work));
}

void TemplatePatcher::Place(const std::string& ns, const std::string& name) {
  Work work;
  work.place = true;
  Add(kube::ObjectKey(ns, name), std::move(work));
}

Status TemplatePatcher::Reconcile(const std::string& key) {
  Work work;
  {
    std::lock_guard lock(mu_);
    auto it = work_.find(key);
    if (it == work_.end()) return Status::Ok();
    work = std::move(it->second);
    work_.erase(it);
  }
  const auto [ns, name] = kube::SplitObjectKey(key);
  // Another attempt later (the worker re-adds the key with its backoff), or the key is
  // dropped when it has had its attempts.
  auto again = [&](const Error& why) -> Status {
    if (queue_.NumRequeues(key) + 1 >= options_.attempts) {
      log::Warn("DaemonSet left as it is", {{"daemonset", key}, {"error", why.message}});
      if (metrics_ && work.place) metrics_->TemplatePatch(why.code == ErrorCode::kNotFound ? "gone" : "failed");
      return Status::Ok();
    }
    std::lock_guard lock(mu_);
    Work& queued = work_[key];
    queued.place |= work.place;
    for (auto& report : work.reports) queued.reports.push_back(std::move(report));
    return why;
  };
  auto stored = api_.Get(ns, name);
  if (!stored.ok()) return again(stored.error());
  if (!work.reports.empty()) {
    auto plan = PlanDaemonSet(*stored, *stored, ns, options_.decision);
    const std::vector<std::string> images = plan.ok() ? SortedImages(*plan) : std::vector<std::string>{};
    for (const auto& [about, events] : work.reports) {
      if (about != images) continue;  // a later admission decided the template as stored
      for (const auto& event : events) (void)api_.RecordEvent(*stored, event.type, event.reason, event.note);
    }
    work.reports.clear();
  }
  if (work.place) {
    if (Status s = PlaceTemplate(ns, name, *stored); !s.ok()) return again(s.error());
  }
  return Status::Ok();
}

Status TemplatePatcher::PlaceTemplate(const std::string& ns, const std::string& name, const Json& daemon_set) {
  // As an update that changes nothing: the template is left, or its requirement put back, or looked up.
  auto plan = PlanDaemonSet(daemon_set, daemon_set, ns, options_.decision);
  if (!plan.ok()) {
    log::Warn("DaemonSet template not placed", {{"daemonset", ns + "/" + name}, {"error", plan.error().message}});
    return Status::Ok();
  }
  std::vector<ImageOutcome> outcomes;
  if (plan->NeedsLookUp()) {
    std::shared_ptr<const registry::Keychain> keychain;
    if (secrets_) keychain = secrets_->KeychainFor(ns, plan->pod.pull_secrets);
    for (const auto& image : plan->pod.images) {
      auto ref = registry::ParseReference(image);
      outcomes.push_back(ref.ok() ? OutcomeOf(image, *ref, resolver_.Resolve(*ref, keychain.get()))
                                  : FailedOutcome(image, ref.error().message));
    }
  }
  ClusterFacts facts;
  std::vector<NodeLabels> nodes;
  const bool node_check = nodes_ && nodes_->HasSynced();
  if (node_check) {
    facts.ready_node_platforms = nodes_->ReadyPlatforms();
    nodes = nodes_->ReadyNodes();
  }
  const NamespaceOptions decide_with = OptionsForNamespace(options_.decision, ns, namespaces_);
  TemplateDecision decided = DecideTemplate(*plan, outcomes, facts, node_check ? &nodes : nullptr, decide_with.options());
  if (decided.skipped.counted && metrics_) metrics_->DaemonSetSkippedNodes(ns, name, decided.skipped.Count());
  if (decided.patch.empty()) {
    if (metrics_) metrics_->TemplatePatch("unchanged");
    return Status::Ok();
  }
  const Json tests = TestOps(daemon_set);
  std::string patch = tests.dump();
  patch.pop_back();
  patch += (tests.empty() ? "" : ",") + decided.patch.substr(1);
  if (Status s = api_.Patch(ns, name, patch); !s.ok()) return s;  // stale or refused: from a fresh read
  if (metrics_) metrics_->TemplatePatch("patched");
  log::Info("DaemonSet template patched after its look-up finished",
            {{"daemonset", ns + "/" + name}, {"result", ResultName(decided.decision.result)}});
  if (decided.placement_changed && decided.skipped.Count() > 0) {
    (void)api_.RecordEvent(daemon_set, "Normal", kSkipsNodesReason, decided.skipped.note);
  }
  for (const auto& event : decided.decision.events) (void)api_.RecordEvent(daemon_set, "Warning", event.reason, event.note);
  return Status::Ok();
}

}  // namespace archway::webhook
