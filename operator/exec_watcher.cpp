#include "operator/exec_watcher.h"

#include <atomic>
#include <iterator>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "kube/informer.h"
#include "kube/typed_informer.h"
#include "kube/workqueue.h"

namespace archway::op {
namespace {

constexpr const char* kExecFormatErrorReason = "ExecFormatError";
constexpr const char* kSuspectImageListReason = "SuspectImageList";

// What a Pod's ownerReference or a workload is, as an Event's `regarding`.
Json Regarding(const std::string& api_version, const std::string& kind, const std::string& ns,
               const std::string& name, const std::string& uid) {
  Json md = {{"name", name}, {"namespace", ns}};
  if (!uid.empty()) md["uid"] = uid;
  return {{"apiVersion", api_version}, {"kind", kind}, {"metadata", md}};
}

bool IsKind(const kube::OwnerReference& owner, const char* api_version, const char* kind) {
  return owner.api_version == api_version && owner.kind == kind;
}

// The reference to resolve: the digest the node ran when the status names one (imageID
// "docker.io/library/web@sha256:...", or "docker-pullable://..." from dockershim), else the
// spec's image. A bare "sha256:..." imageID is the local image id, not a manifest digest.
Result<registry::Reference> ImageReference(const ContainerFailure& failure) {
  std::string id = failure.image_id;
  constexpr std::string_view kDockerPullable = "docker-pullable://";
  if (id.rfind(kDockerPullable, 0) == 0) id = id.substr(kDockerPullable.size());
  if (id.find("@sha256:") != std::string::npos) {
    if (auto ref = registry::ParseReference(id); ref.ok()) return ref;
  }
  return registry::ParseReference(failure.image);
}

registry::Platform NodeAsPlatform(const NodePlatform& node) {
  registry::Platform p;
  p.os = node.os.empty() ? "linux" : node.os;
  p.architecture = node.arch;
  if (node.arch == "arm") p.variant = node.variant;
  return registry::Normalize(p);
}

// Halves `map` (its oldest half, by key order: good enough for a safety bound).
template <typename Map>
void Bound(Map& map, size_t max) {
  if (map.size() < max) return;
  log::Warn("exec-format-error watcher: memory bound reached; forgetting half", {{"entries", std::to_string(map.size())}});
  auto end = map.begin();
  std::advance(end, map.size() / 2);
  map.erase(map.begin(), end);
}

}  // namespace

ExecFormatReporter::ExecFormatReporter(ExecReporterDeps deps, ExecReporterOptions options)
    : deps_(std::move(deps)), options_(options) {
  if (!deps_.clock) deps_.clock = [] { return std::chrono::steady_clock::now(); };
}

int64_t ExecFormatReporter::Reported() const {
  std::lock_guard lock(mu_);
  return reported_;
}

void ExecFormatReporter::Forget(const std::string& uid) {
  if (uid.empty()) return;
  std::lock_guard lock(mu_);
  const std::string prefix = uid + "/";
  for (auto it = seen_.lower_bound(prefix); it != seen_.end() && it->first.rfind(prefix, 0) == 0;) it = seen_.erase(it);
}

std::shared_ptr<const registry::Keychain> ExecFormatReporter::KeychainFor(const PodFailures& pod) const {
  if (deps_.secrets == nullptr || pod.pull_secrets.empty()) return nullptr;
  std::optional<registry::Keychain> merged;
  for (const auto& name : pod.pull_secrets) {
    auto secret = deps_.secrets->Get(pod.ns, name);
    if (!secret) continue;  // the kubelet skips missing pull secrets too
    auto decoded = Base64Decode(kube::StringAt(*secret, {"data", ".dockerconfigjson"}).value_or(""));
    if (!decoded) continue;
    auto keychain = registry::Keychain::FromDockerConfigJson(*decoded);
    if (!keychain.ok()) continue;
    merged = merged ? merged->MergedOver(*keychain) : std::move(*keychain);
  }
  return merged ? std::make_shared<const registry::Keychain>(std::move(*merged)) : nullptr;
}

Result<registry::ImagePlatforms> ExecFormatReporter::Resolve(const ContainerFailure& failure,
                                                             const registry::Keychain* keychain) {
  auto ref = ImageReference(failure);
  if (!ref.ok()) return ref.error();
  return deps_.resolver->Resolve(*ref, keychain);
}

Result<kube::Requeue> ExecFormatReporter::Reconcile(const std::string& key) {
  const auto pod = deps_.pods ? deps_.pods(key) : std::nullopt;
  if (!pod || pod->failures.empty()) return kube::Requeue(0);
  const PodFailures& found = *pod;
  const NodePlatform node =
      ReadNodePlatform(found.node, found.node.empty() ? std::nullopt : deps_.nodes->Get("", found.node));
  const auto keychain = KeychainFor(found);
  kube::Requeue requeue(0);
  for (const ContainerFailure& failure : found.failures) {
    const std::string id = found.uid + "/" + failure.container;
    {
      std::lock_guard lock(mu_);
      // A crash judged harmless is looked at again only if the status comes to say the words.
      auto it = seen_.find(id);
      if (it != seen_.end() && (it->second.reported || (it->second.done && failure.evidence == Evidence::kCrashed)))
        continue;
    }
    const Judgement judgement = JudgeFailure(found, failure, node, Resolve(failure, keychain.get()));
    if (judgement.verdict == Verdict::kNone || judgement.verdict == Verdict::kRetry) {
      std::lock_guard lock(mu_);
      Bound(seen_, options_.max_remembered);
      Seen& seen = seen_[id];
      if (judgement.verdict == Verdict::kNone || ++seen.attempts >= options_.resolve_attempts) {
        seen.done = true;
      } else {
        requeue = options_.resolve_retry;
      }
      continue;
    }
    if (Status s = Report(found, failure, node, judgement); !s.ok()) return s.error();
    std::lock_guard lock(mu_);
    Bound(seen_, options_.max_remembered);
    seen_[id] = Seen{true, true, 0};
    ++reported_;
  }
  return requeue;
}

Status ExecFormatReporter::Report(const PodFailures& pod, const ContainerFailure& failure, const NodePlatform& node,
                                  const Judgement& judgement) {
  log::Warn("exec format error",
            {{"pod", pod.ns + "/" + pod.name}, {"container", failure.container}, {"image", failure.image},
             {"node", node.name}, {"evidence", EvidenceName(failure.evidence)}, {"digest", judgement.digest},
             {"note", judgement.note}});
  const Json regarding = Regarding("v1", "Pod", pod.ns, pod.name, pod.uid);
  if (deps_.events) {
    if (Status s = deps_.events->Warning(regarding, kExecFormatErrorReason, judgement.note); !s.ok()) return s;
  }
  if (deps_.metrics) deps_.metrics->ExecFormatError(pod.ns, EvidenceName(failure.evidence));
  if (judgement.verdict == Verdict::kListLies && !judgement.digest.empty() &&
      deps_.resolver->MarkSuspect(judgement.digest, NodeAsPlatform(node))) {
    if (deps_.metrics) deps_.metrics->SuspectImagePlatform();
    if (deps_.events) (void)deps_.events->Warning(regarding, kSuspectImageListReason, SuspectNote(failure, node, judgement));
  }
  ReportOwner(pod, failure, judgement);
  return Status::Ok();
}

std::optional<kube::OwnerReference> ExecFormatReporter::Workload(const std::string& ns,
                                                                 const kube::OwnerReference& controller) {
  if (IsKind(controller, "apps/v1", "DaemonSet") || IsKind(controller, "apps/v1", "StatefulSet") ||
      IsKind(controller, "batch/v1", "Job")) {
    return controller;
  }
  if (!IsKind(controller, "apps/v1", "ReplicaSet")) return std::nullopt;
  // The pod names only its ReplicaSet; the Deployment is the ReplicaSet's controller.
  if (deps_.kube != nullptr) {
    auto rs = deps_.kube->Get(kube::resources::kReplicaSets, ns, controller.name);
    if (rs.ok()) {
      for (const auto& owner : kube::OwnerReferencesOf(*rs)) {
        if (owner.controller && IsKind(owner, "apps/v1", "Deployment")) return owner;
      }
    } else if (!kube::IsNotFound(rs.error())) {
      log::Warn("exec-format-error watcher: cannot read the ReplicaSet; the Event goes on it",
                {{"replicaset", ns + "/" + controller.name}, {"error", rs.error().message}});
    }
  }
  return controller;  // a ReplicaSet of its own (or unreadable): the Event goes on it
}

void ExecFormatReporter::ReportOwner(const PodFailures& pod, const ContainerFailure& failure,
                                     const Judgement& judgement) {
  if (!pod.controller || deps_.events == nullptr) return;
  const auto workload = Workload(pod.ns, *pod.controller);
  if (!workload || workload->name.empty()) return;
  const std::string key = workload->uid + "/" + failure.container + "/" + failure.image;
  const auto now = deps_.clock();
  {
    std::lock_guard lock(mu_);
    auto it = owner_events_.find(key);
    if (it != owner_events_.end() && now - it->second < options_.owner_event_interval) return;
    Bound(owner_events_, options_.max_remembered);
    owner_events_[key] = now;
  }
  const Json regarding = Regarding(workload->api_version, workload->kind, pod.ns, workload->name, workload->uid);
  if (Status s = deps_.events->Warning(regarding, kExecFormatErrorReason, judgement.note); !s.ok()) {
    std::lock_guard lock(mu_);
    owner_events_.erase(key);  // the next pod of this workload tries again
  }
}

// --- the component ---

namespace {

kube::InformerCodec<CachedPod> PodCodec() {
  return {.decode = [](Json&& pod, std::pmr::memory_resource* memory) { return CachePod(pod, memory); },
          .resource_version = [](const CachedPod& pod) { return std::string(pod.resource_version); }};
}

kube::InformerOptions NodeInformerOptions() {
  kube::InformerOptions options;
  options.transform = [](const Json& node) {
    Json md = Json::object();
    for (const char* key : {"name", "resourceVersion"}) {
      if (auto value = kube::StringAt(node, {"metadata", key})) md[key] = *value;
    }
    for (const char* label : {kube::kOsLabel, kube::kArchLabel, kArmVariantLabel}) {
      if (auto value = kube::StringAt(node, {"metadata", "labels", label})) md["labels"][label] = *value;
    }
    return Json{{"metadata", md}};
  };
  return options;
}

}  // namespace

struct ExecFormatWatcher::Impl {
  kube::TypedInformer<CachedPod> pods;
  kube::Informer nodes;
  kube::WorkQueue queue;
  ExecFormatReporter reporter;
  std::thread starter;
  std::thread worker;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  Impl(kube::Client& kube, registry::Resolver& resolver, kube::EventRecorder* events, Metrics* metrics,
       const kube::ObjectReader* secrets, const ExecWatcherOptions& options)
      : pods(kube, kube::resources::kPods, {}, PodCodec()),
        nodes(kube, kube::resources::kNodes, NodeInformerOptions()),
        queue({.base_delay = options.min_backoff, .max_delay = options.max_backoff}),
        reporter(ExecReporterDeps{.kube = &kube,
                                  .pods = [this](const std::string& key) { return pods.Read(key, ReadCachedPod); },
                                  .nodes = &nodes,
                                  .secrets = secrets,
                                  .resolver = &resolver,
                                  .events = events,
                                  .metrics = metrics,
                                  .clock = {}},
                 options.reporter) {
    // Only a Pod whose record kept failures has something to look at.
    auto changed = [this](const CachedPod& pod) {
      if (pod.Failing()) queue.Add(kube::ObjectKey(std::string(pod.ns), std::string(pod.name)));
    };
    pods.SetHandlers({.on_add = changed,
                      .on_update = [changed](const CachedPod&, const CachedPod& pod) { changed(pod); },
                      .on_delete = [this](const CachedPod& pod) { reporter.Forget(std::string(pod.uid)); }});
  }
};

ExecFormatWatcher::ExecFormatWatcher(kube::Client& kube, registry::Resolver& resolver, kube::EventRecorder* events,
                                     Metrics* metrics, const kube::ObjectReader* secrets, ExecWatcherOptions options)
    : impl_(std::make_unique<Impl>(kube, resolver, events, metrics, secrets, options)) {}

ExecFormatWatcher::~ExecFormatWatcher() { Stop(); }

void ExecFormatWatcher::Start() {
  if (impl_->started.exchange(true)) return;
  impl_->nodes.Start();
  impl_->pods.Start();
  Impl* impl = impl_.get();
  impl->starter = std::thread([impl] {
    // Nodes first: a pod's verdict reads its node.
    while (!impl->stopped && !(impl->nodes.HasSynced() && impl->pods.HasSynced()))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (impl->stopped) return;
    log::Info("exec-format-error watcher synced", {{"pods", std::to_string(impl->pods.Size())}});
    impl->worker = std::thread([impl] {
      kube::RunWorker(impl->queue, "exec-format-error", [impl](const std::string& key) {
        return impl->reporter.Reconcile(key);
      });
    });
  });
}

void ExecFormatWatcher::Stop() {
  if (!impl_->started || impl_->stopped.exchange(true)) return;
  impl_->queue.ShutDown();
  if (impl_->starter.joinable()) impl_->starter.join();
  if (impl_->worker.joinable()) impl_->worker.join();
  impl_->pods.Stop();
  impl_->nodes.Stop();
}

bool ExecFormatWatcher::Synced() const { return impl_->pods.HasSynced() && impl_->nodes.HasSynced(); }

bool ExecFormatWatcher::WaitForSync(std::chrono::milliseconds timeout) const {
  return impl_->nodes.WaitForSync(timeout) && impl_->pods.WaitForSync(timeout);
}

int64_t ExecFormatWatcher::Reported() const { return impl_->reporter.Reported(); }

size_t ExecFormatWatcher::CachedPods() const { return impl_->pods.Size(); }

}  // namespace archway::op
